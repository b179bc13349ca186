/** Environment of the training API, read once at start (see .env.example). */
import { baseConfigSchema, listenPort, num, readConfig, str, url, type ReadConfigOptions } from '@clara/platform';

export const trainingConfigSchema = {
  ...baseConfigSchema,
  CLARA_TRAINING_PORT: listenPort({ default: 45680, desc: 'HTTP + WebSocket port of the training API' }),
  CLARA_TRAINING_HOST: str({ default: '0.0.0.0', desc: 'interface to listen on' }),
  /** When set, /api/datasets/* is forwarded over HTTP to this URL instead of NATS request/reply. */
  CLARA_DATASETS_URL: url({ default: undefined, desc: 'datasets service base URL; unset = bus request/reply' }),
  CLARA_DATASETS_TIMEOUT_MS: num({ default: 30_000, desc: 'timeout of a forwarded dataset request' }),
  CLARA_WS_PING_INTERVAL_MS: num({ default: 30_000, desc: 'WebSocket ping interval; a client missing one pong is dropped' }),
};

export type TrainingConfig = ReturnType<typeof readTrainingConfig>;

export function readTrainingConfig(options?: ReadConfigOptions) {
  return readConfig(trainingConfigSchema, options);
}
