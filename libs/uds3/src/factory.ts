/** Builds a Uds3 from a store selection (what the datasets service's configuration names). */
import type { DataSource } from 'typeorm';
import type { Embedder } from './embed/embedder.js';
import { HashingEmbedder } from './embed/hashing-embedder.js';
import { OnnxEmbedder } from './embed/onnx-embedder.js';
import { ChromaVectorStore } from './stores/chroma/chroma-vector-store.js';
import { CouchDocumentStore } from './stores/couch/couch-document-store.js';
import type { DocumentStore, GraphStore, VectorStore } from './stores/interfaces.js';
import { Neo4jGraphStore } from './stores/neo4j/neo4j-graph-store.js';
import { PgDocumentStore } from './stores/postgres/pg-document-store.js';
import { PgGraphStore } from './stores/postgres/pg-graph-store.js';
import { DEFAULT_TS_CONFIGS, PgMetadataStore } from './stores/postgres/pg-metadata-store.js';
import { PgVectorStore } from './stores/postgres/pg-vector-store.js';
import { StatisticsUpkeep } from './stores/postgres/statistics-upkeep.js';
import { HfTokenCounter, RegexTokenCounter, type TokenCounter } from './text/tokens.js';
import { DEFAULT_UDS3_OPTIONS, Uds3, type Uds3Options } from './uds3.js';

export type DocumentStoreConfig = { kind: 'postgres' } | { kind: 'couchdb'; url: string; database?: string };
/**
 * pgvector in `dataSource` when given (the embedded default: a second PGlite in a worker thread, so vector search
 * runs beside the keyword and graph queries), else in the metadata database; vectors found in the metadata
 * database are moved over once.
 */
export type VectorStoreConfig = { kind: 'pgvector'; dataSource?: DataSource } | { kind: 'chroma'; url: string; collection?: string };
export type GraphStoreConfig = { kind: 'postgres' } | { kind: 'neo4j'; url: string; user?: string; password?: string; database?: string };
export type EmbedderConfig = { kind: 'hashing'; dimension?: number } | { kind: 'onnx'; modelDir: string };

export interface Uds3Config {
  dataSource: DataSource;
  documents: DocumentStoreConfig;
  vectors: VectorStoreConfig;
  graph: GraphStoreConfig;
  embedder: EmbedderConfig;
  /** Path of a Hugging Face tokenizer.json used for chunking and token counts; unset → regex word tokens. */
  tokenizerPath?: string;
  /** Memory for decoded keyword postings kept between searches (default 128 MiB). */
  keywordCacheBytes?: number;
  /** Memory for the chunk lists of graph entity nodes kept between searches (default 64 MiB). */
  graphCacheBytes?: number;
  options?: Partial<Uds3Options>;
}

export function createDocumentStore(c: DocumentStoreConfig, ds: DataSource): DocumentStore {
  return c.kind === 'couchdb' ? new CouchDocumentStore({ url: c.url, database: c.database }) : new PgDocumentStore(ds);
}
export function createVectorStore(c: VectorStoreConfig, ds: DataSource): VectorStore {
  if (c.kind === 'chroma') return new ChromaVectorStore({ url: c.url, collection: c.collection });
  return c.dataSource ? new PgVectorStore(c.dataSource, { adoptFrom: ds }) : new PgVectorStore(ds);
}
export function createGraphStore(c: GraphStoreConfig, ds: DataSource, cacheBytes?: number): GraphStore {
  return c.kind === 'neo4j' ? new Neo4jGraphStore(c) : new PgGraphStore(ds, cacheBytes);
}
export async function createEmbedder(c: EmbedderConfig): Promise<Embedder> {
  return c.kind === 'onnx' ? OnnxEmbedder.load(c.modelDir) : new HashingEmbedder(c.dimension ?? 384);
}

/** Creates the stores, the embedder and the tokenizer, and initialises the stores. Migrations must have run. */
export async function createUds3(config: Uds3Config): Promise<Uds3> {
  const tokens: TokenCounter = config.tokenizerPath ? await HfTokenCounter.fromFile(config.tokenizerPath) : new RegexTokenCounter();
  const embedder = await createEmbedder(config.embedder);
  const upkeep = [new StatisticsUpkeep(config.dataSource)];
  // a vectors database of its own (the embedded default's worker PGlite) has no autovacuum either
  if (config.vectors.kind === 'pgvector' && config.vectors.dataSource && config.vectors.dataSource !== config.dataSource) {
    upkeep.push(new StatisticsUpkeep(config.vectors.dataSource, `ds_vectors_${embedder.dimension}`));
  }
  const metadata = new PgMetadataStore(config.dataSource, DEFAULT_TS_CONFIGS, config.keywordCacheBytes);
  const uds3 = new Uds3(
    {
      metadata,
      documents: createDocumentStore(config.documents, config.dataSource),
      vectors: createVectorStore(config.vectors, config.dataSource),
      graph: createGraphStore(config.graph, config.dataSource, config.graphCacheBytes),
    },
    embedder,
    tokens,
    { ...DEFAULT_UDS3_OPTIONS, ...config.options },
    {
      // after each committed ingestion: merge the small keyword segments it leaves, then refresh planner statistics
      noteWrites: async (chunks) => {
        await metadata.mergeKeywordSegments();
        await Promise.all(upkeep.map((u) => u.noteWrites(chunks)));
      },
    },
  );
  await uds3.init();
  return uds3;
}
