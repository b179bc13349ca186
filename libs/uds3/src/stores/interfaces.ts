/**
 * One interface per store kind. Adapters: documents (PostgreSQL table | CouchDB), vectors (pgvector | Chroma),
 * graph (PostgreSQL tables + recursive CTE | Neo4j). Metadata, chunks, full text, quality, versions and lineage
 * always live in PostgreSQL (`PgMetadataStore`), which is the source of truth: search results are joined
 * against it, so an entry another store holds without metadata is never returned.
 */
import type { GraphEdge, GraphNode, IndexedChunk, ScoredId, SearchFilter, StoredDocument } from '../model.js';

export interface DocumentStore {
  readonly kind: string;
  init(): Promise<void>;
  /** Insert or replace whole documents. */
  putMany(docs: StoredDocument[]): Promise<void>;
  getMany(ids: string[]): Promise<StoredDocument[]>;
  deleteMany(ids: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface VectorRecord {
  chunk: IndexedChunk;
  embedding: Float32Array;
}

export interface VectorStore {
  readonly kind: string;
  init(dimension: number): Promise<void>;
  upsert(records: VectorRecord[]): Promise<void>;
  /** Nearest chunks by cosine similarity (score = similarity, higher is better), filtered. */
  query(embedding: Float32Array, k: number, filter: SearchFilter): Promise<ScoredId[]>;
  deleteByDocuments(documentIds: string[]): Promise<void>;
  count(): Promise<number>;
  close(): Promise<void>;
}

export interface GraphStore {
  readonly kind: string;
  init(): Promise<void>;
  upsert(nodes: GraphNode[], edges: GraphEdge[]): Promise<void>;
  /**
   * Chunks reachable from the seed nodes within `hops` edges (either direction), scored by proximity:
   * Σ over seeds of 1 / distance. Chunks are end points of the walk, and nodes with more than `maxFanout`
   * edges are reached but not walked through, so hubs (a very common keyword) do not flood the walk; a seed that
   * is such a hub is ignored. `version`: the graph's version as the caller read it at the start of this search from
   * the same database (see `PgMetadataStore.keywordSearch`), for a store that would otherwise read it (undefined:
   * not read).
   */
  expand(seedIds: string[], hops: number, limit: number, maxFanout: number, version?: Promise<string | undefined>): Promise<ScoredId[]>;
  /** Fills what the store keeps between searches after a start (optional); `stop` ends it early. */
  warmCaches?(maxFanout: number, stop: () => boolean): Promise<number>;
  /** Removes the documents' own nodes (document, chunks) and their edges; shared entity nodes stay. */
  deleteDocuments(documentIds: string[]): Promise<void>;
  countNodes(): Promise<number>;
  close(): Promise<void>;
}
