/**
 * The Cypher the Neo4j graph adapter sends. Kept as pure builders so it can be unit-tested and run against
 * Apache AGE (embedded in PGlite) where the dialects agree. Differences: AGE has no list predicates
 * (`all(x IN … WHERE …)`), so the filter on inner path nodes (no walking through chunks or hubs) is Neo4j-only, and edges are written with CREATE … WHERE NOT exists(…)
 * on AGE instead of MERGE (see upsertEdges); everything else is the same text.
 * Variable-length bounds cannot be parameters in Cypher, so `hops` is validated and inlined.
 */
export type CypherDialect = 'neo4j' | 'age';

export interface CypherQuery {
  text: string;
  params: Record<string, unknown>;
}

export const NODE_LABEL = 'Uds3Node';
export const EDGE_TYPE = 'REL';

export const cypher = {
  upsertNodes(nodes: { id: string; kind: string; label: string }[]): CypherQuery {
    return {
      text: `UNWIND $nodes AS n MERGE (x:${NODE_LABEL} {id: n.id}) SET x.kind = n.kind, x.label = n.label RETURN count(x) AS written`,
      params: { nodes },
    };
  },

  upsertEdges(edges: { src: string; dst: string; kind: string }[], dialect: CypherDialect = 'neo4j'): CypherQuery {
    const match = `UNWIND $edges AS e MATCH (a:${NODE_LABEL}), (b:${NODE_LABEL}) WHERE a.id = e.src AND b.id = e.dst`;
    // AGE attaches a relationship MERGEd after a MATCH to the wrong vertices, and Neo4j 5 dropped the exists(pattern)
    // function AGE needs instead: the one place the two texts differ.
    const text =
      dialect === 'neo4j'
        ? `${match} MERGE (a)-[r:${EDGE_TYPE} {kind: e.kind}]->(b) RETURN count(r) AS written`
        : `${match} AND NOT exists((a)-[:${EDGE_TYPE} {kind: e.kind}]->(b)) CREATE (a)-[r:${EDGE_TYPE} {kind: e.kind}]->(b) RETURN count(r) AS written`;
    return { text, params: { edges } };
  },

  refreshDegrees(ids: string[]): CypherQuery {
    return {
      text:
        `MATCH (n:${NODE_LABEL}) WHERE n.id IN $ids OPTIONAL MATCH (n)-[r]-() ` +
        `WITH n, count(r) AS degree SET n.degree = degree RETURN count(n) AS updated`,
      params: { ids },
    };
  },

  expand(seedIds: string[], hops: number, limit: number, maxFanout: number, dialect: CypherDialect = 'neo4j'): CypherQuery {
    if (!Number.isInteger(hops) || hops < 1 || hops > 5) throw new RangeError('hops must be an integer in 1..5');
    const hubFilter = dialect === 'neo4j' ? ` AND all(x IN nodes(p)[1..-1] WHERE x.kind <> 'chunk' AND x.degree <= $maxFanout)` : '';
    return {
      text:
        `MATCH p = (s:${NODE_LABEL})-[*1..${hops}]-(c:${NODE_LABEL}) ` +
        `WHERE s.id IN $seeds AND s.degree <= $maxFanout AND c.kind = 'chunk'${hubFilter} ` +
        `WITH c.id AS chunk, s.id AS seed, min(length(p)) AS distance ` +
        `WITH chunk, sum(1.0 / distance) AS score ` +
        `RETURN chunk, score ORDER BY score DESC, chunk LIMIT $limit`,
      params: { seeds: seedIds, limit, maxFanout },
    };
  },

  deleteDocuments(documentIds: string[]): CypherQuery {
    return {
      text:
        `MATCH (d:${NODE_LABEL}) WHERE d.id IN $docNodes ` +
        `OPTIONAL MATCH (d)-[:${EDGE_TYPE} {kind: 'HAS_CHUNK'}]->(c:${NODE_LABEL}) ` +
        `DETACH DELETE c, d`,
      params: { docNodes: documentIds.map((id) => `doc:${id}`) },
    };
  },

  countNodes(): CypherQuery {
    return { text: `MATCH (n:${NODE_LABEL}) RETURN count(n) AS nodes`, params: {} };
  },

  constraint(): CypherQuery {
    return { text: `CREATE CONSTRAINT uds3_node_id IF NOT EXISTS FOR (n:${NODE_LABEL}) REQUIRE n.id IS UNIQUE`, params: {} };
  },
};

/**
 * Inlines parameters as Cypher literals, for engines (AGE through SQL) that take a query string only.
 * Strings are single-quoted with quotes and backslashes escaped.
 */
export function inlineParams(q: CypherQuery): string {
  return q.text.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    if (!(name in q.params)) throw new Error(`missing Cypher parameter $${name}`);
    return literal(q.params[name]);
  });
}

function literal(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('non-finite number in Cypher parameter');
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `\`${k}\``}: ${literal(x)}`)
      .join(', ')}}`;
  }
  throw new Error(`cannot inline ${typeof v}`);
}
