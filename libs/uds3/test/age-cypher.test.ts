/**
 * The Neo4j adapter's Cypher, executed for real on Apache AGE (PGlite + pglite-age), where the dialects agree.
 * No Neo4j server can be installed on this machine, so this is as close to a server run as we get; the
 * hub filter (a list predicate AGE lacks) is covered by the unit test of the builder only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { age } from '@electric-sql/pglite-age';
import { cypher, inlineParams, type CypherQuery } from '../src/stores/neo4j/cypher.js';
import { GRAPH_FIXTURE } from './contract.js';

let db: PGlite;

async function run(q: CypherQuery, columns: string[]): Promise<Record<string, unknown>[]> {
  const text = inlineParams(q);
  if (text.includes('$$')) throw new Error('query would break the dollar quoting');
  const res = await db.query<Record<string, string>>(
    `SELECT * FROM cypher('uds3', $$ ${text} $$) AS (${columns.map((c) => `${c} agtype`).join(', ')})`,
  );
  return res.rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, JSON.parse(String(v).replace(/::\w+$/, ''))])));
}

describe('Neo4j adapter Cypher on Apache AGE', () => {
  beforeAll(async () => {
    db = await PGlite.create({ extensions: { age } });
    await db.exec(`CREATE EXTENSION IF NOT EXISTS age; LOAD 'age'; SET search_path = ag_catalog, "$user", public;`);
    await db.exec(`SELECT create_graph('uds3')`);
  });
  afterAll(async () => db?.close());

  const { nodes, edges } = GRAPH_FIXTURE;

  it('MERGEs nodes and edges idempotently and counts degrees', async () => {
    expect(await run(cypher.upsertNodes(nodes), ['written'])).toEqual([{ written: nodes.length }]);
    expect(await run(cypher.upsertEdges(edges, 'age'), ['written'])).toEqual([{ written: edges.length }]);
    await run(cypher.upsertNodes(nodes.slice(0, 3)), ['written']);
    expect(await run(cypher.upsertEdges(edges.slice(0, 3), 'age'), ['written'])).toEqual([{ written: 0 }]);
    expect(await run(cypher.countNodes(), ['nodes'])).toEqual([{ nodes: nodes.length }]);
    expect(await run(cypher.refreshDegrees(nodes.map((n) => n.id)), ['updated'])).toEqual([{ updated: nodes.length }]);
    const [law] = await run({ text: `MATCH (n:Uds3Node {id: 'law:BauGB'}) RETURN n.degree`, params: {} }, ['degree']);
    expect(law.degree).toBe(2);
    const [doc] = await run({ text: `MATCH (n:Uds3Node {id: 'doc:d1'}) RETURN n.degree`, params: {} }, ['degree']);
    expect(doc.degree).toBe(2);
  });

  it('expands seeds over k hops and scores chunks by proximity (Σ 1/distance)', async () => {
    const rows = await run(cypher.expand(['cite:§ 35 BauGB'], 3, 10, 100, 'age'), ['chunk', 'score']);
    const score = Object.fromEntries(rows.map((r) => [r.chunk as string, r.score as number]));
    expect(score['chunk:d1#0']).toBeCloseTo(1);
    expect(score['chunk:d1#1']).toBeCloseTo(1 / 3); // AGE lacks the inner-node filter: it walks through chunk d1#0
    expect(score['chunk:d2#0']).toBeCloseTo(1 / 3);
    expect(rows[0].chunk).toBe('chunk:d1#0');
    const near = await run(cypher.expand(['cite:§ 35 BauGB', 'cite:§ 34 BauGB'], 1, 10, 100, 'age'), ['chunk', 'score']);
    expect(near.map((r) => r.chunk).sort()).toEqual(['chunk:d1#0', 'chunk:d2#0']);
  });

  it('deletes a document with its chunks and keeps shared entities', async () => {
    await run(cypher.deleteDocuments(['d1']), ['nothing']);
    expect(await run(cypher.countNodes(), ['nodes'])).toEqual([{ nodes: nodes.length - 3 }]);
    const rows = await run(cypher.expand(['cite:§ 35 BauGB'], 3, 10, 100, 'age'), ['chunk', 'score']);
    expect(rows.map((r) => r.chunk)).toEqual(['chunk:d2#0']);
  });
});
