/** Everything the controllers need, created once by bootstrap() and injected under SERVING_STATE. */
import type { Logger, MessageBus } from '@clara/platform';
import type { ServingEngine } from '@clara/engine/inference/index';
import type { AdapterSync } from './adapter-sync.js';
import type { CompletionRunner } from './completions.js';
import type { ServingConfig } from './config.js';
import type { ServingMetrics } from './metrics.js';

export const SERVING_STATE = Symbol('SERVING_STATE');

export interface ServingState {
  config: ServingConfig;
  engine: ServingEngine;
  runner: CompletionRunner;
  adapters: AdapterSync;
  metrics: ServingMetrics;
  bus?: MessageBus;
  log: Logger;
  replicaId: string;
  startedAt: number;
  ready: boolean;
}
