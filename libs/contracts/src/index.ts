export * from './subjects.js';
export * from './training/index.js';
export * from './serving/index.js';
export * from './datasets/index.js';
