// Standalone entry point: `node apps/serving/dist/main.js` (reads the environment; exits on bad config).
import { bootstrap } from './app.js';

const serving = await bootstrap();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void serving.close().finally(() => process.exit(0));
  });
}
