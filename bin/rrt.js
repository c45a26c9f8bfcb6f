#!/usr/bin/env node
// The rrt command. `npm install` compiles src/ to dist/ (the prepare script).
import '../dist/cli/main.js';
