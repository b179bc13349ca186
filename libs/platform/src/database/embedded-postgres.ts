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
 *
 * The process's own DataSource does not use the socket: `connect()` gives `pg` an in-memory connection
 * (in-process-connection.ts) that hands the engine each statement in one piece, directly on this thread or as a
 * message to the worker. The socket stays for other clients (psql, while debugging).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { InProcessConnection, type ProtocolExecutor } from './in-process-connection.js';

export interface EmbeddedPostgres {
  readonly url: string;
  readonly dataDir: string;
  /** The engine, when it runs on this thread. */
  readonly db?: PGlite;
  /** A new in-memory connection for `pg` (its `stream` option). */
  connect(): Duplex;
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

/**
 * Runs protocol messages on an engine (on this thread, and inside the worker: the worker's source embeds this
 * function's text, so it must not refer to anything outside itself).
 *
 * PGlite is one session shared by every connection. A connection that leaves the session inside a transaction
 * owns it until the transaction ends: other connections wait (one that the pool opened after destroying a client
 * mid-transaction would otherwise run inside that transaction), and if the owner closes first, its transaction is
 * rolled back. Clients of the socket are not part of this; pglite-socket orders them the same way among themselves.
 */
export function sessionExecutor(db: PGlite): ProtocolExecutor {
  let owner = 0;
  let ownerDone: Promise<void> = Promise.resolve();
  let release = () => {};
  const settle = async (connection: number, closing: boolean) => {
    if (closing && owner === connection && db.isInTransaction()) await db.exec('ROLLBACK');
    const open = db.isInTransaction() && !closing;
    if (open && owner !== connection) {
      owner = connection;
      ownerDone = new Promise<void>((done) => (release = done));
    } else if (!open && owner === connection) {
      owner = 0;
      release();
    }
  };
  return {
    async exec(connection, messages) {
      while (owner !== 0 && owner !== connection) await ownerDone;
      // A new connection (its startup message: no type byte, protocol 3.0) finds the named statements of the
      // connections before it in the one session, unknown to its driver, which would fail preparing them again:
      // they are cleared first.
      if (messages[0] === 0 && messages.length >= 8 && ((messages[4] << 24) | (messages[5] << 16) | (messages[6] << 8) | messages[7]) === 196608) {
        await db.exec('DEALLOCATE ALL');
      }
      const parts: Uint8Array[] = [];
      // the answer arrives in views of the engine's memory: copied before the engine writes again
      await db.runExclusive(() => db.execProtocolRawStream(messages, { onRawData: (data) => void parts.push(new Uint8Array(data)) }));
      await settle(connection, false);
      if (parts.length === 1) return parts[0];
      // one array of its own (not Buffer.concat, whose small results share Node's pool): it may be moved to
      // another thread
      const answer = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (answer.set(p, at), at + p.length), 0);
      return answer;
    },
    closed: (connection) => settle(connection, true),
  };
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
  const executor = sessionExecutor(db);
  let closing: Promise<void> | undefined;
  return {
    url,
    dataDir,
    db,
    connect: () => new InProcessConnection(executor),
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
  // in-memory connections of the main thread (see sessionExecutor)
  const executor = (${sessionExecutor.toString()})(db);
  parentPort.on('message', async (m) => {
    if (m === 'close') {
      await server.stop();
      await db.close();
      parentPort.postMessage({ closed: true });
      return;
    }
    try {
      if (m.messages) {
        const answer = await executor.exec(m.connection, m.messages);
        parentPort.postMessage({ call: m.call, answer }, [answer.buffer]);
      } else {
        await executor.closed(m.connection);
        parentPort.postMessage({ call: m.call });
      }
    } catch (err) {
      parentPort.postMessage({ call: m.call, error: String((err && err.stack) || err) });
    }
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
  const executor = workerExecutor(worker);
  let closing: Promise<void> | undefined;
  return {
    url,
    dataDir,
    connect: () => new InProcessConnection(executor),
    close() {
      closing ??= (async () => {
        running.delete(dataDir);
        // the engine flushes and closes in its thread before the thread goes
        await new Promise<void>((done) => {
          worker.on('message', (m: { closed?: boolean }) => m.closed && done());
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

/** Protocol messages posted to the engine's worker thread, answers matched to calls by number. */
function workerExecutor(worker: Worker): ProtocolExecutor {
  const calls = new Map<number, { resolve: (answer: Uint8Array) => void; reject: (err: Error) => void }>();
  let next = 0;
  worker.on('message', (m: { call?: number; answer?: Uint8Array; error?: string }) => {
    const call = m.call === undefined ? undefined : calls.get(m.call);
    if (!call) return;
    calls.delete(m.call!);
    if (m.error) call.reject(new Error(m.error));
    else call.resolve(m.answer ?? new Uint8Array(0));
  });
  let exited = false;
  worker.on('exit', () => {
    exited = true;
    for (const call of calls.values()) call.reject(new Error('the embedded database worker has stopped'));
    calls.clear();
  });
  const post = (message: { connection: number; messages?: Uint8Array }) =>
    new Promise<Uint8Array>((resolve, reject) => {
      if (exited) return reject(new Error('the embedded database worker has stopped'));
      const call = next++;
      calls.set(call, { resolve, reject });
      // the bytes in an array of their own, moved to the worker (a view would clone its whole buffer)
      const messages = message.messages && new Uint8Array(message.messages);
      worker.postMessage({ ...message, messages, call }, messages ? [messages.buffer] : []);
    });
  return {
    exec: (connection, messages) => post({ connection, messages }),
    closed: async (connection) => void (await post({ connection })),
  };
}
