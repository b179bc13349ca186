export * from './formats.js';
export * from './dataset.js';
export * from './loader.js';
export * from './rng.js';
