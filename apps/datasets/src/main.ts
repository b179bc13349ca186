/** Runs the datasets service alone: `node apps/datasets/dist/main.js` (configuration from the environment). */
import { runAsProcessMain } from '@clara/platform';
import { bootstrap } from './app.js';

runAsProcessMain('datasets service', () => bootstrap());
