// Standalone training worker: `node apps/training-worker/dist/main.js` (config from the environment).
import { runAsProcessMain } from '@clara/platform';
import { bootstrap } from './app.js';

runAsProcessMain('training worker', () => bootstrap());
