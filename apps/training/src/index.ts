export { bootstrap, type TrainingApp, type TrainingBootstrapOptions } from './app.js';
export { readTrainingConfig, trainingConfigSchema } from './config.js';
