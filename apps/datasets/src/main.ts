/** Runs the datasets service alone: `node apps/datasets/dist/main.js` (configuration from the environment). */
import { bootstrap } from './app.js';

const app = await bootstrap();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
