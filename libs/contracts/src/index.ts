export * from './subjects.js';
export * from './serving/index.js';
