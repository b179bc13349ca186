/**
 * Vectors in Chroma (the distributed default). The collection is created with `embeddingFunction: null`:
 * UDS3 always sends its own embeddings, so Chroma never tries to load (download) a default model.
 * Each record carries the filterable document fields as metadata, so filters run inside Chroma.
 */
import { ChromaClient, type Collection, type Where } from 'chromadb';
import type { ScoredId, SearchFilter } from '../../model.js';
import type { VectorRecord, VectorStore } from '../interfaces.js';

export interface ChromaOptions {
  url: string;
  collection?: string;
}

export class ChromaVectorStore implements VectorStore {
  readonly kind = 'chroma';
  private readonly client: ChromaClient;
  private collection!: Collection;

  constructor(private readonly options: ChromaOptions) {
    const u = new URL(options.url);
    this.client = new ChromaClient({ host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 8000)), ssl: u.protocol === 'https:' });
  }

  async init(dimension: number): Promise<void> {
    this.collection = await this.client.getOrCreateCollection({
      name: `${this.options.collection ?? 'clara_chunks'}_${dimension}`,
      configuration: { hnsw: { space: 'cosine' } },
      embeddingFunction: null,
    });
  }

  async upsert(records: VectorRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 1000) {
      const part = records.slice(i, i + 1000);
      await this.collection.upsert({
        ids: part.map((r) => r.chunk.id),
        embeddings: part.map((r) => Array.from(r.embedding)),
        metadatas: part.map((r) => ({
          document_id: r.chunk.document_id,
          domain: r.chunk.domain,
          document_type: r.chunk.document_type,
          source: r.chunk.source,
          language: r.chunk.language,
          // integer per-mille: Chroma compares an int-valued metadata 0 wrongly against a float bound
          quality_milli: Math.round(r.chunk.quality_score * 1000),
        })),
      });
    }
  }

  async query(embedding: Float32Array, k: number, filter: SearchFilter): Promise<ScoredId[]> {
    const result = await this.collection.query({
      queryEmbeddings: [Array.from(embedding)],
      nResults: k,
      where: chromaWhere(filter),
      include: ['distances'] as never,
    });
    const ids = result.ids[0] ?? [];
    const distances = result.distances?.[0] ?? [];
    return ids.map((id, i) => ({ chunk_id: id, score: 1 - (distances[i] ?? 1) }));
  }

  async deleteByDocuments(documentIds: string[]): Promise<void> {
    if (documentIds.length) await this.collection.delete({ where: { document_id: { $in: documentIds } } });
  }

  async count(): Promise<number> {
    return this.collection.count();
  }

  async close(): Promise<void> {}
}

export function chromaWhere(filter: SearchFilter): Where | undefined {
  const clauses: Where[] = [];
  for (const field of ['domain', 'document_type', 'source', 'language', 'document_id'] as const) {
    const values = filter[field];
    if (values?.length) clauses.push(values.length === 1 ? { [field]: values[0] } : { [field]: { $in: values } });
  }
  if (filter.min_quality_score !== undefined) clauses.push({ quality_milli: { $gte: Math.ceil(filter.min_quality_score * 1000 - 1e-9) } });
  if (clauses.length === 0) return undefined;
  return clauses.length === 1 ? clauses[0] : { $and: clauses };
}
