/**
 * One contract suite, run against every store adapter that can run on this machine, each on a real server:
 * PostgreSQL (local server, own database), embedded PGlite (with pgvector), a CouchDB-compatible server
 * (pouchdb-server) and Chroma. Neo4j cannot run here: its Cypher is tested in age-cypher.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { ChromaClient } from 'chromadb';
import { ChromaVectorStore } from '../src/stores/chroma/chroma-vector-store.js';
import { CouchDocumentStore } from '../src/stores/couch/couch-document-store.js';
import { PgDocumentStore } from '../src/stores/postgres/pg-document-store.js';
import { PgGraphStore } from '../src/stores/postgres/pg-graph-store.js';
import { PgVectorStore } from '../src/stores/postgres/pg-vector-store.js';
import { documentStoreContract, graphStoreContract, vectorStoreContract } from './contract.js';
import { embeddedPostgres, localPostgres, startChroma, startPouchServer, type RunningServer } from '../src/testing.js';

describe('PostgreSQL server adapters', () => {
  let db: { dataSource: DataSource; close(): Promise<void> };
  beforeAll(async () => {
    db = await localPostgres();
  });
  afterAll(async () => db?.close());
  describe('PgDocumentStore', () => documentStoreContract(() => new PgDocumentStore(db.dataSource)));
  describe('PgGraphStore', () => graphStoreContract(() => new PgGraphStore(db.dataSource)));
  it('PgGraphStore: concurrent writers of the same new nodes, in opposite orders, all commit with the right degrees', async () => {
    // two datasets replicas ingesting documents that share entities: each write first takes the graph version's row
    // (a BEFORE STATEMENT trigger); without it, inserting the same new nodes in opposite orders deadlocked in about
    // half the runs
    const [a, b] = [new PgGraphStore(db.dataSource), new PgGraphStore(db.dataSource)];
    await a.init();
    const words = Array.from({ length: 2000 }, (_, i) => ({ id: `kw:race${i}`, kind: 'entity' as const, label: `race${i}` }));
    const writes = Array.from({ length: 12 }, (_, r) => {
      const order = r % 2 ? [...words].reverse() : words;
      const chunk = { id: `chunk:race${r}#0`, kind: 'chunk' as const, label: `race${r}` };
      return (r % 2 ? b : a).upsert([chunk, ...order], order.map((w) => ({ src: chunk.id, dst: w.id, kind: 'MENTIONS' })));
    });
    const settled = await Promise.allSettled(writes);
    expect(settled.filter((x) => x.status === 'rejected')).toEqual([]);
    const rows: { degree: number }[] = await db.dataSource.query(`SELECT degree FROM ds_graph_nodes WHERE id LIKE 'kw:race%'`);
    expect(rows.map((r) => r.degree)).toEqual(words.map(() => 12));
  });
  it('PgVectorStore refuses a server without pgvector and names the way out', async () => {
    await expect(new PgVectorStore(db.dataSource).init(64)).rejects.toThrow(/pgvector.*UDS3_VECTOR_STORE=chroma/);
  });
});

describe('embedded PGlite adapters', () => {
  let db: { dataSource: DataSource; close(): Promise<void> };
  let vectors: PgVectorStore;
  beforeAll(async () => {
    db = await embeddedPostgres();
    vectors = new PgVectorStore(db.dataSource);
  });
  afterAll(async () => db?.close());
  describe('PgDocumentStore', () => documentStoreContract(() => new PgDocumentStore(db.dataSource)));
  describe('PgVectorStore (pgvector)', () => vectorStoreContract(() => vectors));
  describe('PgGraphStore', () => graphStoreContract(() => new PgGraphStore(db.dataSource)));
  it('PgGraphStore: a repeated walk reads only the graph version, until a write raises it', async () => {
    const graph = new PgGraphStore(db.dataSource);
    const pool = (db.dataSource.driver as unknown as { master: { query: (...args: unknown[]) => Promise<unknown> } }).master;
    const read: { text: string; values: unknown[] }[] = [];
    const query = pool.query;
    pool.query = function (this: unknown, ...args: unknown[]) {
      const [config] = args as [string | { text: string; values: unknown[] }];
      read.push(typeof config === 'string' ? { text: config, values: [] } : { text: config.text, values: config.values });
      return query.apply(this, args);
    };
    // the statements that go through TypeORM (chunk lists) take a pooled client, not pool.query
    const dsQuery = db.dataSource.query;
    db.dataSource.query = function (this: DataSource, text: string, ...rest: unknown[]) {
      read.push({ text, values: rest[0] as unknown[] });
      return (dsQuery as (...a: unknown[]) => Promise<never>).call(this, text, ...rest);
    } as DataSource['query'];
    const seeds = ['cite:§ 35 BauGB', 'kw:nowhere'];
    try {
      const search = () => graph.expand(seeds, 3, 10, 100);
      const first = await search();
      // a new walk: the version, both seeds, their first step and their chunk lists in one statement
      expect(read[0].text).toMatch(/ds_graph_first_step/);
      expect(read[0].values).toEqual([seeds, seeds, 100, seeds]);
      read.length = 0;
      expect(await search()).toEqual(first);
      // the same walk again: the version alone (the statement asks for no seeds, steps or lists)
      expect(read).toEqual([{ text: expect.stringMatching(/ds_graph_first_step/), values: [[], [], 100, []] }]);
      await graph.upsert([{ id: 'kw:elsewhere', kind: 'entity', label: 'elsewhere' }], []);
      read.length = 0;
      expect(await search()).toEqual(first);
      // the version moved on: the kept walk is dropped and the seeds are read again
      expect(read.slice(1)).toContainEqual({ text: expect.stringMatching(/ds_graph_first_step/), values: [seeds, [], 100, []] });
    } finally {
      pool.query = query;
      db.dataSource.query = dsQuery;
    }
  });
  it('PgGraphStore refuses to search without the graph version row, naming the migration', async () => {
    await db.dataSource.query(`DELETE FROM ds_graph_state`);
    try {
      await expect(new PgGraphStore(db.dataSource).expand(['cite:§ 35 BauGB'], 3, 10, 100)).rejects.toThrow(/ds_graph_state.*Uds3GraphVersion/);
    } finally {
      await db.dataSource.query(`INSERT INTO ds_graph_state (version) VALUES (1)`);
    }
  });
});

// UDS3_GRAPH_CACHE_MB=0: every search reads its chunk edges from the tables (the membership queries of both server
// generations: PostgreSQL 15 here, 18 in PGlite)
describe('PgGraphStore without its chunk-list cache', () => {
  for (const [name, open] of [['PostgreSQL server', localPostgres], ['embedded PGlite', embeddedPostgres]] as const) {
    describe(name, () => {
      let db: { dataSource: DataSource; close(): Promise<void> };
      beforeAll(async () => {
        db = await open();
      });
      afterAll(async () => db?.close());
      graphStoreContract(() => new PgGraphStore(db.dataSource, 0));
    });
  }
});

describe('CouchDocumentStore on pouchdb-server', () => {
  let server: RunningServer;
  let store: CouchDocumentStore;
  beforeAll(async () => {
    server = await startPouchServer();
    store = new CouchDocumentStore({ url: server.url, database: 'contract_docs' });
    await store.init();
  });
  afterAll(async () => server?.stop());
  documentStoreContract(() => store);
});

describe('ChromaVectorStore on a local Chroma server', () => {
  let server: RunningServer;
  let store: ChromaVectorStore;
  beforeAll(async () => {
    server = await startChroma();
    store = new ChromaVectorStore({ url: server.url, collection: 'contract' });
  });
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });
  vectorStoreContract(() => store);
  it('a query against a collection the server no longer has fails with Chroma\'s status and answer', async () => {
    const gone = new ChromaVectorStore({ url: server.url, collection: 'contract_gone' });
    await gone.init(8);
    const u = new URL(server.url);
    await new ChromaClient({ host: u.hostname, port: Number(u.port) }).deleteCollection({ name: 'contract_gone_8' });
    await expect(gone.query(new Float32Array(8).fill(0.5), 3, {})).rejects.toThrow(/^Chroma 4\d\d on \/api\/v2\/.*\/query: .+/);
    await gone.close();
  });
});
