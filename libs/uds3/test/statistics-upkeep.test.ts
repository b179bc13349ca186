/**
 * Embedded PGlite runs no autovacuum: UDS3 vacuums and analyzes its tables itself after bulk ingestion, or the
 * graph walk's index lookups turn into sequential scans of the whole graph and never become index-only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedUds3 } from '../src/testing.js';
import type { Uds3 } from '../src/uds3.js';

const docs = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `s${from + i}`,
    title: `Bescheid ${from + i}`,
    content: `Die Baugenehmigung ${from + i} nach § ${1 + ((from + i) % 40)} BauGB betrifft Lärmschutz und Abstandsflächen im Außenbereich.`,
    domain: 'baurecht',
    document_type: 'ruling',
    language: 'de',
  }));

describe('planner statistics upkeep (embedded PGlite)', () => {
  let db: Awaited<ReturnType<typeof embeddedUds3>>;
  let uds3: Uds3;
  const tuples = async (table: string) =>
    Number((await db.dataSource.query(`SELECT reltuples FROM pg_class WHERE relname = $1`, [table]))[0].reltuples);
  // pages the visibility map marks all-visible: what lets index-only scans skip the heap
  const visiblePages = async (table: string) =>
    Number((await db.dataSource.query(`SELECT relallvisible FROM pg_class WHERE relname = $1`, [table]))[0].relallvisible);
  const plan = async () =>
    (
      await db.dataSource.query(
        `EXPLAIN SELECT e.src, e.dst FROM ds_graph_edges e JOIN ds_graph_nodes n ON n.id = e.dst WHERE e.src = ANY($1::text[])`,
        [['cite:§ 3 BauGB']],
      )
    )
      .map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN'])
      .join('\n');

  beforeAll(async () => {
    db = await embeddedUds3(32);
    uds3 = db.uds3;
  });
  afterAll(async () => {
    await db?.close();
  });

  it('vacuums and analyzes the tables once enough chunks were written, so lookups use the indexes alone', async () => {
    expect(await tuples('ds_chunks')).toBeLessThanOrEqual(0); // never analyzed: the planner guesses
    await uds3.ingest(docs(0, 20));
    expect(await tuples('ds_chunks')).toBeLessThanOrEqual(0); // 20 chunks: below the 50-row threshold
    await uds3.ingest(docs(20, 400));
    expect(await tuples('ds_chunks')).toBe(420);
    expect(await tuples('ds_graph_edges')).toBeGreaterThan(420);
    expect(await visiblePages('ds_graph_edges')).toBeGreaterThan(0);
    expect(await plan()).not.toMatch(/Seq Scan on ds_graph_edges/);
    await uds3.ingest(docs(420, 10)); // 10 more: under 10 % of 420, statistics stay
    expect(await tuples('ds_chunks')).toBe(420);
  });
});
