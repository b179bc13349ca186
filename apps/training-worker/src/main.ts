// Standalone training worker: `node apps/training-worker/dist/main.js` (config from the environment).
import { bootstrap } from './app.js';

const app = await bootstrap().catch((err: Error) => {
  process.stderr.write(`training worker failed to start: ${err.message}\n`);
  process.exit(1);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
