export * from './job.js';
export * from './trainer.js';
// DTO classes: import from '@clara/contracts/training/dto'.
export * from './dataset-forwarding.js';
