/**
 * Test helpers (import from '@clara/uds3/testing', never from production code).
 * Real servers for the contract suite, started by the tests themselves on free ports and stopped after:
 * a CouchDB-compatible server (pouchdb-server) and Chroma (`chroma run`, from the chromadb npm package).
 * A server that does not come up FAILS the test with its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { acquireDataSource } from '@clara/platform';
import { createUds3 } from './factory.js';
import { UDS3_MIGRATIONS } from './stores/postgres/migrations.js';
import type { Uds3 } from './uds3.js';

// src/ and dist/ are both two levels below the package root, three below the repository root
const BIN = resolve(import.meta.dirname, '../../../node_modules/.bin');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

async function startServer(name: string, command: string, args: (port: number, dir: string) => string[], probe: string): Promise<RunningServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `uds3-${name}-`));
  const child: ChildProcess = spawn(join(BIN, command), args(port, dir), { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      try {
        process.kill(-child.pid!, 'SIGTERM'); // the server's own process group (npx-style wrappers spawn children)
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 300));
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(url + probe);
      if (res.ok) return { url, stop };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`${name} did not start on port ${port}: ${output.slice(-2000)}`);
}

export function startPouchServer(): Promise<RunningServer> {
  return startServer('pouchdb', 'pouchdb-server', (port, dir) => ['--port', String(port), '--dir', dir], '/');
}

export function startChroma(): Promise<RunningServer> {
  return startServer('chroma', 'chroma', (port, dir) => ['run', '--path', dir, '--port', String(port), '--host', '127.0.0.1'], '/api/v2/heartbeat');
}

/**
 * Records the text of every statement the DataSource's pool runs (named prepared statements included, which bypass
 * `DataSource.query`) until `restore` is called.
 */
export function recordStatements(dataSource: DataSource): { statements: string[]; restore(): void } {
  const pool = (dataSource.driver as unknown as { master: { query: (...args: unknown[]) => Promise<unknown> } }).master;
  const statements: string[] = [];
  const query = pool.query;
  pool.query = function (this: unknown, ...args: unknown[]) {
    const [config] = args as [string | { text: string }];
    statements.push(typeof config === 'string' ? config : config.text);
    return query.apply(this, args);
  };
  return { statements, restore: () => void (pool.query = query) };
}

/** A migrated DataSource on a fresh database of the local PostgreSQL server, dropped by `close`. */
export async function localPostgres(): Promise<{ dataSource: DataSource; close(): Promise<void> }> {
  const { createTestDatabase } = await import('@clara/platform/testing');
  const db = await createTestDatabase('uds3');
  const shared = await acquireDataSource({ url: db.url, migrations: UDS3_MIGRATIONS, poolMax: 4 });
  return {
    dataSource: shared.dataSource,
    close: async () => {
      await shared.release();
      await db.drop();
    },
  };
}

/** A migrated DataSource on a throw-away embedded PGlite (with pgvector), removed by `close`. */
export async function embeddedPostgres(): Promise<{ dataSource: DataSource; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'uds3-pglite-'));
  const shared = await acquireDataSource({ dataDir: dir, migrations: UDS3_MIGRATIONS });
  return {
    dataSource: shared.dataSource,
    close: async () => {
      await shared.release(); // last user: stops the embedded server too
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** UDS3 on the embedded default's stores (PGlite with pgvector and the graph tables) and the hashing embedder. */
export async function embeddedUds3(dimension = 64): Promise<{ uds3: Uds3; dataSource: DataSource; close(): Promise<void> }> {
  const db = await embeddedPostgres();
  const uds3 = await createUds3({
    dataSource: db.dataSource,
    documents: { kind: 'postgres' },
    vectors: { kind: 'pgvector' },
    graph: { kind: 'postgres' },
    embedder: { kind: 'hashing', dimension },
  });
  return {
    uds3,
    dataSource: db.dataSource,
    close: async () => {
      await uds3.close();
      await db.close();
    },
  };
}

/** A small German search corpus: document `i` is about topic i % 4, cites § 30–35 BauGB and mentions the next topic. */
export const SEARCH_TOPICS = ['Lärmschutz an Straßen', 'Photovoltaik auf Dächern', 'Abstandsflächen im Außenbereich', 'Windenergie und Artenschutz'];
export function topicDocument(i: number, idPrefix: string) {
  return {
    id: `${idPrefix}${i}`,
    title: `${SEARCH_TOPICS[i % 4]} ${i}`,
    content: `${SEARCH_TOPICS[i % 4]}: Bescheid ${i} nach § ${30 + (i % 6)} BauGB. ${SEARCH_TOPICS[(i + 1) % 4]} wird am Rande erwähnt.`,
    domain: i % 2 ? 'baurecht' : 'umweltrecht',
    document_type: 'ruling',
    language: 'de',
  };
}
