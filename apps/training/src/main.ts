// Standalone training API: `node apps/training/dist/main.js` (config from the environment, see .env.example).
import { runAsProcessMain } from '@clara/platform';
import { bootstrap } from './app.js';

runAsProcessMain('training API', () => bootstrap());
