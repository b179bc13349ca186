/**
 * Process-wide TypeORM DataSource, shared by every app running in the process.
 *
 *   const db = await acquireDataSource({ url: config.DATABASE_URL, dataDir: dirs.pgDir,
 *                                        entities: [...], migrations: [...], logger });
 *   db.dataSource.getRepository(Foo) ...
 *   await db.extend({ entities: [...], migrations: [...] });   // another app joining a DataSource it was handed
 *   await db.release();   // closes (and stops the embedded store) when the last user releases
 *
 * url set → real PostgreSQL (pool `poolMax`, default 10); url unset → embedded PGlite under dataDir with a
 * pool of ONE connection (PGlite is one session). Apps that ask for the same URL in one process get the same
 * DataSource: their entities and migrations are merged in and their pending migrations run. Migrations on a
 * real server run under a PostgreSQL advisory lock so services starting together don't race.
 */
import pg from 'pg';
import { DataSource, type DataSourceOptions, type MixedList, type EntitySchema } from 'typeorm';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres, type EmbeddedThread } from './embedded-postgres.js';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type Constructor = Function;

export interface AcquireDataSourceOptions {
  /** postgres:// URL; unset → embedded PGlite in dataDir. */
  url?: string;
  /** Directory of the embedded store (required when url is unset), e.g. $CLARA_DATA_DIR/pg. */
  dataDir?: string;
  entities?: Array<Constructor | EntitySchema>;
  migrations?: Constructor[];
  /** Pool size for a real server (ignored for the embedded store: always 1). */
  poolMax?: number;
  /** Where the embedded engine runs: this thread (default) or a worker thread of its own. */
  embeddedThread?: EmbeddedThread;
  logger?: Logger;
}

export interface SharedDataSource {
  readonly dataSource: DataSource;
  readonly embedded: boolean;
  readonly url: string;
  /** SELECT 1 with a timeout: readiness. */
  ping(timeoutMs?: number): Promise<{ ok: boolean; detail?: string }>;
  /** Adds another app's entities and migrations to this shared DataSource and runs its pending migrations. */
  extend(options: { entities?: Array<Constructor | EntitySchema>; migrations?: Constructor[]; logger?: Logger }): Promise<void>;
  release(): Promise<void>;
}

interface Entry {
  dataSource: DataSource;
  embedded?: EmbeddedPostgres;
  url: string;
  refs: number;
  lock: Promise<unknown>;
}

const entries = new Map<string, Promise<Entry>>();

export async function acquireDataSource(options: AcquireDataSourceOptions): Promise<SharedDataSource> {
  if (!options.url && !options.dataDir) throw new Error('acquireDataSource: give a DATABASE_URL or a dataDir for the embedded store');
  const key = options.url ?? `embedded:${options.dataDir}`;
  let pending = entries.get(key);
  const creating = !pending;
  if (!pending) {
    pending = create(options);
    entries.set(key, pending);
    pending.catch(() => entries.delete(key));
  }
  const entry = await pending;
  entry.refs++;
  try {
    if (!creating) await serialise(entry, () => merge(entry, options));
  } catch (err) {
    entry.refs--;
    throw err;
  }
  let released = false;
  return {
    dataSource: entry.dataSource,
    embedded: !!entry.embedded,
    url: entry.url,
    ping: (timeoutMs = 2000) => ping(entry.dataSource, timeoutMs),
    extend: (more) => serialise(entry, () => merge(entry, more)),
    release: async () => {
      if (released) return;
      released = true;
      if (--entry.refs > 0) return;
      entries.delete(key);
      await entry.dataSource.destroy().catch(() => undefined);
      await entry.embedded?.close();
    },
  };
}

async function create(options: AcquireDataSourceOptions): Promise<Entry> {
  const embedded = options.url ? undefined : await startEmbeddedPostgres({ dataDir: options.dataDir!, thread: options.embeddedThread });
  const url = options.url ?? embedded!.url;
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    entities: [...(options.entities ?? [])] as MixedList<Constructor>,
    migrations: [...(options.migrations ?? [])] as MixedList<Constructor>,
    migrationsTableName: 'clara_migrations',
    // Embedded PGlite is one session: the pool's wait queue is the database's queue, so a long ingestion batch
    // must not fail the requests queued behind it (10 s failed a 100,000-chunk embedded load under CPU load).
    // The one connection stays open (no idle timeout): a new one clears the session's prepared statements.
    // The embedded engine is reached in memory, not over its socket (see in-process-connection.ts).
    extra: {
      max: embedded ? 1 : (options.poolMax ?? 10),
      connectionTimeoutMillis: embedded ? 300_000 : 10_000,
      ...(embedded ? { idleTimeoutMillis: 0, stream: () => embedded.connect() } : {}),
    },
    logging: false,
  } as DataSourceOptions);
  try {
    await dataSource.initialize();
  } catch (err) {
    await embedded?.close();
    throw new Error(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(err as Error).message}`);
  }
  const entry: Entry = { dataSource, embedded, url, refs: 0, lock: Promise.resolve() };
  try {
    await serialise(entry, () => migrate(entry, options.logger));
  } catch (err) {
    await dataSource.destroy().catch(() => undefined);
    await embedded?.close();
    throw err;
  }
  return entry;
}

async function merge(entry: Entry, options: Pick<AcquireDataSourceOptions, 'entities' | 'migrations' | 'logger'>) {
  const ds = entry.dataSource;
  const entities = (ds.options.entities ?? []) as Array<Constructor | EntitySchema>;
  const migrations = (ds.options.migrations ?? []) as Constructor[];
  const newEntities = (options.entities ?? []).filter((e) => !entities.includes(e));
  const newMigrations = (options.migrations ?? []).filter((m) => !migrations.includes(m));
  if (newEntities.length === 0 && newMigrations.length === 0) return;
  ds.setOptions({ entities: [...entities, ...newEntities], migrations: [...migrations, ...newMigrations] } as Partial<DataSourceOptions>);
  // Rebuilds entity and migration metadata for the merged lists (protected in the typings, public at run time).
  await (ds as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas();
  await migrate(entry, options.logger);
}

async function migrate(entry: Entry, logger?: Logger) {
  const ds = entry.dataSource;
  if (ds.migrations.length === 0) return;
  if (entry.embedded) {
    const done = await ds.runMigrations({ transaction: 'each' });
    if (done.length) logger?.info('migrations applied', { migrations: done.map((m) => m.name) });
    return;
  }
  // Separate connection holds the advisory lock while TypeORM migrates through the pool.
  const client = new pg.Client({ connectionString: entry.url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(7263510)');
    const done = await ds.runMigrations({ transaction: 'each' });
    if (done.length) logger?.info('migrations applied', { migrations: done.map((m) => m.name) });
  } finally {
    await client.query('SELECT pg_advisory_unlock(7263510)').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

function serialise<T>(entry: Entry, fn: () => Promise<T>): Promise<T> {
  const next = entry.lock.then(fn, fn);
  entry.lock = next.catch(() => undefined);
  return next;
}

async function ping(ds: DataSource, timeoutMs: number): Promise<{ ok: boolean; detail?: string }> {
  if (!ds.isInitialized) return { ok: false, detail: 'not connected' };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ds.query('SELECT 1'),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@/]+@/, '$1:***@');
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P02', '57P03']);

/**
 * True when `err` says the database cannot be reached right now (server down, restarting, connection lost) rather
 * than that the query was wrong: callers answer 503 + retry instead of 500. Looks through TypeORM's driverError.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; driverError?: unknown } | undefined, depth = 0; e && depth < 3; e = e.driverError as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (UNAVAILABLE_CODES.has(code) || code.startsWith('08')) return true;
    if (typeof e.message === 'string' && /Connection terminated|timeout exceeded when trying to connect|not queryable|the database system is (starting up|shutting down|in recovery mode)/.test(e.message)) return true;
  }
  return false;
}
