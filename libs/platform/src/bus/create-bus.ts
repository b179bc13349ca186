/**
 * createMessageBus({ natsUrl, logger }): NatsBus when a URL is given, otherwise the in-process bus.
 * In one process (embedded launcher) create the bus once and hand it to every app's bootstrap().
 */
import type { Logger } from '../logger.js';
import { InProcessBus } from './in-process-bus.js';
import type { MessageBus } from './message-bus.js';
import { NatsBus } from './nats-bus.js';

export async function createMessageBus(options: { natsUrl?: string; name?: string; logger?: Logger }): Promise<MessageBus> {
  if (options.natsUrl) return NatsBus.connect({ url: options.natsUrl, name: options.name, logger: options.logger });
  return new InProcessBus({ logger: options.logger });
}
