/**
 * The message bus and database an app's bootstrap() runs on: the ones it was handed (embedded launcher, tests), or
 * its own opened from the environment. release() closes only what was opened here; what was passed in stays open
 * for its owner.
 */
import type { MessageBus } from './bus/message-bus.js';
import { createMessageBus } from './bus/create-bus.js';
import { acquireDataSource, type SharedDataSource } from './database/data-source.js';
import type { Logger } from './logger.js';

export interface AppInfrastructureOptions {
  bus?: MessageBus;
  db?: SharedDataSource;
  /** NATS_URL; unset → in-process bus */
  natsUrl?: string;
  /** NATS connection name */
  busName: string;
  /** DATABASE_URL; unset → embedded PGlite in pgDir */
  databaseUrl?: string;
  pgDir: string;
  /** this app's tables: merged into the (possibly shared) DataSource, pending migrations run */
  schema: Pick<Parameters<SharedDataSource['extend']>[0], 'entities' | 'migrations'>;
  logger: Logger;
}

export interface AppInfrastructure {
  bus: MessageBus;
  db: SharedDataSource;
  /** closes the bus and releases the database unless they were passed in */
  release(): Promise<void>;
}

export async function openAppInfrastructure(o: AppInfrastructureOptions): Promise<AppInfrastructure> {
  const bus = o.bus ?? (await createMessageBus({ natsUrl: o.natsUrl, name: o.busName, logger: o.logger }));
  let db: SharedDataSource | undefined;
  const release = async () => {
    if (!o.db) await db?.release();
    if (!o.bus) await bus.close();
  };
  try {
    db = o.db ?? (await acquireDataSource({ url: o.databaseUrl, dataDir: o.pgDir, logger: o.logger }));
    // Shared or not, make sure this app's tables exist.
    await db.extend({ ...o.schema, logger: o.logger });
  } catch (err) {
    await release();
    throw err;
  }
  return { bus, db, release };
}
