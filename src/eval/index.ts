// Evaluation: perplexity over token streams, lm-evaluation-harness-style multiple-choice and
// LAMBADA scoring, the task registry, and evaluate() that runs named tasks on a model.
export * from './evaluate.js';
export * from './multiple-choice.js';
export * from './perplexity.js';
export * from './tasks.js';
export * from './text.js';
export * from './exit-perplexity.js';
