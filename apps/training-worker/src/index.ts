export { bootstrap, type WorkerApp, type WorkerBootstrapOptions } from './app.js';
export { TrainingWorker, type TrainingWorkerOptions } from './worker.js';
export { registerTrainer, getTrainer, registeredTrainerTypes } from './trainers.js';
export { readWorkerConfig, workerConfigSchema } from './config.js';
export type { TrainerRunner, TrainerContext, TrainerJob, TrainerReport, TrainerResult } from '@clara/contracts';
