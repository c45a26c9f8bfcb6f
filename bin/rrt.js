#!/usr/bin/env node
// The rrt command. `npm install` compiles src/ to dist/ (the prepare script). The CLI runs in
// this process, no child: a signal sent to this pid reaches `rrt serve` itself (see its help
// for npx and process managers).
import '../dist/cli/main.js';
