// Standalone entry point: `node apps/serving/dist/main.js` (reads the environment; exits on bad config).
import { runAsProcessMain } from '@clara/platform';
import { bootstrap } from './app.js';

runAsProcessMain('serving', () => bootstrap());
