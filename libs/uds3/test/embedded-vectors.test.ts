/**
 * The embedded default keeps its vectors in a PGlite of their own, in a worker thread, so vector search runs
 * beside the keyword and graph queries of the metadata database. Vectors an older install kept beside the
 * metadata are moved over once, and search finds them there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { acquireDataSource } from '@clara/platform';
import { createUds3, type Uds3Config } from '../src/factory.js';
import { PgVectorStore } from '../src/stores/postgres/pg-vector-store.js';
import { UDS3_MIGRATIONS } from '../src/stores/postgres/migrations.js';
import { SEARCH_TOPICS, topicDocument } from '../src/testing.js';

const doc = (i: number) => topicDocument(i, 'v');

describe('pgvector in an embedded database of its own (worker thread)', () => {
  const base = mkdtempSync(join(tmpdir(), 'clara-uds3-vectors-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** An install of the old layout (vectors beside the metadata) with `n` documents, and an empty vectors database. */
  async function oldInstall(name: string, n: number) {
    const main = await acquireDataSource({ dataDir: join(base, name), migrations: UDS3_MIGRATIONS });
    const vectors = await acquireDataSource({ dataDir: join(base, `${name}-vectors`), embeddedThread: 'worker' });
    const config: Uds3Config = {
      dataSource: main.dataSource,
      documents: { kind: 'postgres' },
      vectors: { kind: 'pgvector' },
      graph: { kind: 'postgres' },
      embedder: { kind: 'hashing', dimension: 64 },
    };
    const old = await createUds3(config);
    await old.ingest(Array.from({ length: n }, (_, i) => doc(i)));
    return {
      main,
      vectors,
      old,
      config,
      separate: { ...config, vectors: { kind: 'pgvector' as const, dataSource: vectors.dataSource } },
      release: async () => {
        await vectors.release();
        await main.release();
      },
    };
  }

  it('moves the vectors an older install kept beside the metadata, once, then searches and writes them there', async () => {
    const { main, old, separate, release } = await oldInstall('pg', 20);
    try {
      const queries = SEARCH_TOPICS.map((t) => ({ query_text: t, top_k: 5, search_types: ['vector'] }));
      const before = await Promise.all(queries.map((q) => old.search(q, { log: false })));
      await old.close();

      const moved = await createUds3(separate);
      expect(await moved.stores.vectors.count()).toBe(20);
      const [left] = await main.dataSource.query(`SELECT to_regclass('ds_vectors_64') IS NOT NULL AS present`);
      expect(left.present).toBe(false);
      const after = await Promise.all(queries.map((q) => moved.search(q, { log: false })));
      expect(after.map((o) => o.results.map((r) => [r.chunk_id, r.score]))).toEqual(before.map((o) => o.results.map((r) => [r.chunk_id, r.score])));
      expect(after.every((o) => o.results.length === 5)).toBe(true);

      // new documents land in the vectors' own database; a restart copies nothing again
      await moved.ingest([doc(20)]);
      await moved.close();
      const again = await createUds3(separate);
      expect(await again.stores.vectors.count()).toBe(21);
      const hit = await again.search({ query_text: doc(20).title, top_k: 1, search_types: ['vector'] }, { log: false });
      expect(hit.results[0].chunk_id.startsWith('v20#')).toBe(true);
      await again.close();
    } finally {
      await release();
    }
  });

  it('a move that fails half-way leaves the new database empty and the old vectors in place; the next start moves them', async () => {
    const { main, vectors, old, separate, release } = await oldInstall('pg2', 12);
    try {
      await old.close();
      // the metadata database fails on its second batch read, after the first batch was inserted
      let reads = 0;
      const flaky = new Proxy(main.dataSource, {
        get: (target, key) =>
          key === 'query'
            ? (sql: string, params?: unknown[]) => {
                if (sql.includes('ORDER BY chunk_id') && ++reads === 2) return Promise.reject(new Error('connection lost'));
                return target.query(sql, params);
              }
            : Reflect.get(target, key),
      }) as DataSource;
      await expect(new PgVectorStore(vectors.dataSource, { adoptFrom: flaky }).init(64)).rejects.toThrow('connection lost');
      expect(reads).toBe(2);
      const count = async (db: DataSource) => (await db.query(`SELECT count(*)::int AS n FROM ds_vectors_64`))[0].n;
      expect(await count(vectors.dataSource)).toBe(0);
      expect(await count(main.dataSource)).toBe(12);

      const moved = await createUds3(separate);
      expect(await moved.stores.vectors.count()).toBe(12);
      // no autovacuum in PGlite: the vectors' own database gets the planner statistics upkeep too
      await moved.ingest(Array.from({ length: 60 }, (_, i) => doc(100 + i)));
      const [stats] = await vectors.dataSource.query(`SELECT reltuples FROM pg_class WHERE relname = 'ds_vectors_64'`);
      expect(Number(stats.reltuples)).toBe(72);
      await moved.close();
    } finally {
      await release();
    }
  });
});
