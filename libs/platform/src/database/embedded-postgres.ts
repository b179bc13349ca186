/**
 * Embedded PostgreSQL (PGlite 0.5, WASM) served over a local TCP socket by pglite-socket, so the ordinary
 * `pg` driver and TypeORM code run unchanged. PGlite is ONE session: clients must use a pool of max 1
 * and one DataSource per process — acquireDataSource() in data-source.ts does this for you.
 *
 *   const pg = await startEmbeddedPostgres({ dataDir: '/abs/data/pg' });   // process-wide, one per dataDir
 *   pg.url  // postgres://postgres@127.0.0.1:PORT/postgres
 *   await pg.close();
 *
 * `thread: 'worker'` runs the engine in a worker thread: its queries then run beside the main thread's work
 * (the datasets service keeps its vectors in such a second database, so vector search overlaps the keyword and
 * graph queries of the main one). pgvector (`vector`) and pg_trgm are loaded and created, for the datasets service.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  readonly url: string;
  readonly dataDir: string;
  /** The engine, when it runs on this thread. */
  readonly db?: PGlite;
  close(): Promise<void>;
}

export type EmbeddedThread = 'main' | 'worker';

const running = new Map<string, Promise<EmbeddedPostgres>>();

/** Run by every embedded engine, on this thread or in a worker. */
const ENGINE_SETUP = 'CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS pg_trgm;';
/**
 * pglite-socket on a free local port. Several sockets may attach (e.g. a psql for debugging) but queries are
 * serialised by pglite-socket; CLARA's own pool uses one connection so transactions never interleave.
 */
const SOCKET = { port: 0, host: '127.0.0.1', maxConnections: 8 };

export function startEmbeddedPostgres(options: { dataDir: string; thread?: EmbeddedThread }): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  let started = running.get(dataDir);
  if (!started) {
    started = options.thread === 'worker' ? openInWorker(dataDir) : open(dataDir);
    running.set(dataDir, started);
    started.catch(() => running.delete(dataDir));
  }
  return started;
}

/** PGlite has no lock of its own: two processes on one directory would corrupt it. */
function lockDataDir(dataDir: string): () => void {
  const lock = join(dataDir, 'clara.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(`the embedded database in ${dataDir} is in use by process ${pid}; stop it, or set DATABASE_URL to share a PostgreSQL server`);
      }
      rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`cannot lock the embedded database in ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function open(dataDir: string): Promise<EmbeddedPostgres> {
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir, { extensions: { vector, pg_trgm } });
  } catch (err) {
    unlock();
    throw err;
  }
  await db.exec(ENGINE_SETUP);
  const server = new PGLiteSocketServer({ db, ...SOCKET });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  let closing: Promise<void> | undefined;
  return {
    url,
    dataDir,
    db,
    close() {
      closing ??= (async () => {
        running.delete(dataDir);
        await server.stop();
        await db.close();
        unlock();
      })();
      return closing;
    },
  };
}

/**
 * The worker: CommonJS evaluated from a string (so it runs the same from dist/ and from sources under test),
 * importing the engine's modules by the paths resolved here.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const [{ PGlite }, { pg_trgm }, { vector }, { PGLiteSocketServer }] = await Promise.all(
    [workerData.modules.pglite, workerData.modules.pgTrgm, workerData.modules.vector, workerData.modules.socket].map((m) => import(m)));
  const db = await PGlite.create(workerData.dataDir, { extensions: { vector, pg_trgm } });
  await db.exec(workerData.setup);
  const server = new PGLiteSocketServer({ db, ...workerData.socket });
  await server.start();
  parentPort.on('message', async (m) => {
    if (m !== 'close') return;
    await server.stop();
    await db.close();
    parentPort.postMessage({ closed: true });
  });
  parentPort.postMessage({ url: 'postgres://postgres@' + server.getServerConn() + '/postgres' });
})().catch((err) => parentPort.postMessage({ error: String((err && err.stack) || err) }));
`;

async function openInWorker(dataDir: string): Promise<EmbeddedPostgres> {
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  const require = createRequire(import.meta.url);
  const modules = {
    pglite: require.resolve('@electric-sql/pglite'),
    pgTrgm: require.resolve('@electric-sql/pglite/contrib/pg_trgm'),
    vector: require.resolve('@electric-sql/pglite-pgvector'),
    socket: require.resolve('@electric-sql/pglite-socket'),
  };
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { dataDir, modules, setup: ENGINE_SETUP, socket: SOCKET } });
  let url: string;
  const started = new Promise<string>((resolveUrl, reject) => {
    worker.once('message', (m: { url?: string; error?: string }) => (m.url ? resolveUrl(m.url) : reject(new Error(m.error))));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`embedded database worker exited with code ${code}`)));
  });
  try {
    url = await started;
  } catch (err) {
    await worker.terminate();
    unlock();
    throw new Error(`cannot start the embedded database in ${dataDir}: ${(err as Error).message}`);
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    dataDir,
    close() {
      closing ??= (async () => {
        running.delete(dataDir);
        // the engine flushes and closes in its thread before the thread goes
        await new Promise<void>((done) => {
          worker.once('message', () => done());
          worker.once('exit', () => done());
          worker.postMessage('close');
        });
        await worker.terminate();
        unlock();
      })();
      return closing;
    },
  };
}
