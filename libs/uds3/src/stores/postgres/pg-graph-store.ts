/**
 * Knowledge graph as two PostgreSQL tables, walked with a recursive CTE: the embedded default, and it works on
 * a plain PostgreSQL server too. Edges are stored in both directions so the walk follows one index.
 */
import type { DataSource } from 'typeorm';
import type { GraphEdge, GraphNode, ScoredId } from '../../model.js';
import type { GraphStore } from '../interfaces.js';

export class PgGraphStore implements GraphStore {
  readonly kind = 'postgres';
  constructor(private readonly db: DataSource) {}

  async init(): Promise<void> {
    // tables created by the UDS3 migrations
  }

  async upsert(nodes: GraphNode[], edges: GraphEdge[]): Promise<void> {
    await this.db.transaction(async (em) => {
      for (let i = 0; i < nodes.length; i += 5000) {
        const part = nodes.slice(i, i + 5000);
        await em.query(
          `INSERT INTO ds_graph_nodes (id, kind, label) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT (id) DO NOTHING`,
          [part.map((n) => n.id), part.map((n) => n.kind), part.map((n) => n.label)],
        );
      }
      const both = edges.flatMap((e) => [e, { src: e.dst, dst: e.src, kind: e.kind }]);
      for (let i = 0; i < both.length; i += 5000) {
        const part = both.slice(i, i + 5000);
        // degree = stored edges per node, kept incrementally: only edges that were really new count
        await em.query(
          `WITH added AS (
             INSERT INTO ds_graph_edges (src, dst, kind) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
             ON CONFLICT DO NOTHING RETURNING src)
           UPDATE ds_graph_nodes n SET degree = n.degree + a.n FROM (SELECT src, count(*)::int AS n FROM added GROUP BY src) a
           WHERE n.id = a.src`,
          [part.map((e) => e.src), part.map((e) => e.dst), part.map((e) => e.kind)],
        );
      }
    });
  }

  async expand(seedIds: string[], hops: number, limit: number, maxFanout: number): Promise<ScoredId[]> {
    if (!seedIds.length) return [];
    // walk(node, seed, depth): breadth-first from each seed over the entity graph. Chunks are end points (the walk
    // does not continue through them, or every shared common word would connect everything), and hubs are
    // reached but not expanded further. A hub seed (a very common query word) is dropped: like a stop-word it
    // says little, and scoring its thousands of chunks dominated graph latency in bench/search.
    const rows = await this.db.query(
      `WITH RECURSIVE walk(node, seed, depth) AS (
         SELECT n.id, n.id, 0 FROM ds_graph_nodes n WHERE n.id = ANY($1::text[]) AND n.degree <= $3
         UNION
         SELECT e.dst, w.seed, w.depth + 1
         FROM walk w
         JOIN ds_graph_nodes wn ON wn.id = w.node
         JOIN ds_graph_edges e ON e.src = w.node
         WHERE w.depth < $2 AND (w.depth = 0 OR (wn.degree <= $3 AND wn.kind <> 'chunk'))
       ),
       nearest AS (
         SELECT w.node, w.seed, min(w.depth) AS depth FROM walk w JOIN ds_graph_nodes n ON n.id = w.node AND n.kind = 'chunk'
         GROUP BY w.node, w.seed
       )
       SELECT substr(node, 7) AS chunk_id, sum(1.0 / depth) AS score FROM nearest GROUP BY node
       ORDER BY score DESC, node LIMIT $4`,
      [seedIds, hops, maxFanout, limit],
    );
    return rows.map((r: { chunk_id: string; score: number }) => ({ chunk_id: r.chunk_id, score: Number(r.score) }));
  }

  async deleteDocuments(documentIds: string[]): Promise<void> {
    await this.db.transaction(async (em) => {
      const docNodes = documentIds.map((id) => `doc:${id}`);
      const chunkNodes: { dst: string }[] = await em.query(
        `SELECT dst FROM ds_graph_edges WHERE src = ANY($1::text[]) AND kind = 'HAS_CHUNK'`,
        [docNodes],
      );
      const doomed = [...docNodes, ...chunkNodes.map((c) => c.dst)];
      // surviving neighbours lose the edges to the deleted nodes
      await em.query(
        `UPDATE ds_graph_nodes n SET degree = n.degree - l.n
         FROM (SELECT src, count(*)::int AS n FROM ds_graph_edges WHERE dst = ANY($1::text[]) AND NOT src = ANY($1::text[]) GROUP BY src) l
         WHERE n.id = l.src`,
        [doomed],
      );
      await em.query(`DELETE FROM ds_graph_nodes WHERE id = ANY($1::text[])`, [doomed]);
    });
  }

  async countNodes(): Promise<number> {
    const [r] = await this.db.query(`SELECT count(*)::int AS n FROM ds_graph_nodes`);
    return r.n;
  }

  async close(): Promise<void> {}
}
