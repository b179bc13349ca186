/**
 * Knowledge graph in Neo4j through `neo4j-driver`. NOTE: no Neo4j server can be installed on the build
 * machines, so this adapter has not been run against a server; its Cypher is unit-tested and executed on
 * Apache AGE (see cypher.ts and test/age-cypher.test.ts).
 */
import neo4j, { type Driver } from 'neo4j-driver';
import type { GraphEdge, GraphNode, ScoredId } from '../../model.js';
import type { GraphStore } from '../interfaces.js';
import { cypher, type CypherQuery } from './cypher.js';

export interface Neo4jOptions {
  url: string;
  user?: string;
  password?: string;
  database?: string;
}

export class Neo4jGraphStore implements GraphStore {
  readonly kind = 'neo4j';
  private readonly driver: Driver;

  constructor(private readonly options: Neo4jOptions, driver?: Driver) {
    this.driver =
      driver ?? neo4j.driver(options.url, options.user ? neo4j.auth.basic(options.user, options.password ?? '') : undefined);
  }

  private async run(q: CypherQuery) {
    const session = this.driver.session({ database: this.options.database });
    try {
      return await session.run(q.text, q.params);
    } finally {
      await session.close();
    }
  }

  async init(): Promise<void> {
    await this.driver.verifyConnectivity();
    await this.run(cypher.constraint());
  }

  async upsert(nodes: GraphNode[], edges: GraphEdge[]): Promise<void> {
    for (let i = 0; i < nodes.length; i += 5000) await this.run(cypher.upsertNodes(nodes.slice(i, i + 5000)));
    for (let i = 0; i < edges.length; i += 5000) await this.run(cypher.upsertEdges(edges.slice(i, i + 5000)));
    const touched = [...new Set(edges.flatMap((e) => [e.src, e.dst]))];
    for (let i = 0; i < touched.length; i += 5000) await this.run(cypher.refreshDegrees(touched.slice(i, i + 5000)));
  }

  async expand(seedIds: string[], hops: number, limit: number, maxFanout: number): Promise<ScoredId[]> {
    if (!seedIds.length) return [];
    const q = cypher.expand(seedIds, hops, limit, maxFanout, 'neo4j');
    const result = await this.run({ text: q.text, params: { ...q.params, limit: neo4j.int(limit), maxFanout: neo4j.int(maxFanout) } });
    return result.records.map((r) => ({ chunk_id: String(r.get('chunk')).replace(/^chunk:/, ''), score: Number(r.get('score')) }));
  }

  async deleteDocuments(documentIds: string[]): Promise<void> {
    await this.run(cypher.deleteDocuments(documentIds));
  }

  async countNodes(): Promise<number> {
    const r = await this.run(cypher.countNodes());
    return Number(r.records[0]?.get('nodes') ?? 0);
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
