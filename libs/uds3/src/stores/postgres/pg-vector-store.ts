/**
 * Vectors in PostgreSQL with pgvector (HNSW, cosine): the embedded default (PGlite ships pgvector). A server
 * without the extension fails at init with a message saying so: use the Chroma adapter there.
 */
import type { DataSource } from 'typeorm';
import type { ScoredId, SearchFilter } from '../../model.js';
import type { VectorRecord, VectorStore } from '../interfaces.js';
import { filterConditions, preparedQuery } from './sql.js';

/** The vector table's columns, in the order {@link PgVectorStore} writes them. */
const COLUMNS = ['chunk_id', 'document_id', 'domain', 'document_type', 'source', 'language', 'quality_score', 'embedding'];

export class PgVectorStore implements VectorStore {
  readonly kind = 'pgvector';
  private table = '';
  /**
   * `adoptFrom`: the database that held the vectors before they got one of their own (the embedded default keeps
   * them in a second PGlite, in a worker thread); `init` moves them over once, while this one is still empty.
   */
  constructor(
    private readonly db: DataSource,
    private readonly options: { adoptFrom?: DataSource } = {},
  ) {}

  async init(dimension: number): Promise<void> {
    const [ext] = await this.db.query(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'vector'`);
    if (!ext.n) {
      throw new Error('PostgreSQL vector store needs the pgvector extension, which this server lacks; set UDS3_VECTOR_STORE=chroma');
    }
    await this.db.query(`CREATE EXTENSION IF NOT EXISTS vector`);
    // No foreign key to ds_chunks: vectors are written before the metadata commits (see Uds3.ingest).
    // One table per dimension: a different embedder never mixes its vectors with another's.
    this.table = `ds_vectors_${dimension}`;
    await this.db.query(
      `CREATE TABLE IF NOT EXISTS ${this.table} (
         chunk_id text PRIMARY KEY,
         document_id text NOT NULL,
         domain text NOT NULL,
         document_type text NOT NULL,
         source text NOT NULL,
         language text NOT NULL,
         quality_score real NOT NULL,
         embedding vector(${dimension}) NOT NULL)`,
    );
    await this.db.query(`CREATE INDEX IF NOT EXISTS ${this.table}_document ON ${this.table} (document_id)`);
    const { adoptFrom } = this.options;
    if (adoptFrom && adoptFrom !== this.db) await this.adopt(adoptFrom);
    await this.db.query(`CREATE INDEX IF NOT EXISTS ${this.table}_hnsw ON ${this.table} USING hnsw (embedding vector_cosine_ops)`);
  }

  /**
   * Copies the other database's vectors of this dimension here, in one transaction (a crash mid-way leaves this
   * table empty, so the next start copies again) and before the HNSW index (one bulk build after), then drops them
   * there.
   */
  private async adopt(from: DataSource): Promise<void> {
    const [old] = await from.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [this.table]);
    if (!old.present) return;
    const [mine] = await this.db.query(`SELECT EXISTS (SELECT 1 FROM ${this.table}) AS any`);
    if (mine.any) return; // moved already (or written since): the old table is left alone
    await this.db.transaction(async (em) => {
      await em.query(`DROP INDEX IF EXISTS ${this.table}_hnsw`);
      for (let after = ''; ; ) {
        const rows: Record<string, unknown>[] = await from.query(
          `SELECT ${COLUMNS.slice(0, -1).join(', ')}, embedding::text AS embedding
           FROM ${this.table} WHERE chunk_id > $1 ORDER BY chunk_id LIMIT 2000`,
          [after],
        );
        if (!rows.length) break;
        await this.write(em, COLUMNS.map((c) => rows.map((r) => r[c])));
        after = String(rows[rows.length - 1].chunk_id);
      }
    });
    await from.query(`DROP TABLE ${this.table}`);
  }

  async upsert(records: VectorRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 1000) {
      const part = records.slice(i, i + 1000);
      await this.write(this.db, [
        part.map((r) => r.chunk.id),
        part.map((r) => r.chunk.document_id),
        part.map((r) => r.chunk.domain),
        part.map((r) => r.chunk.document_type),
        part.map((r) => r.chunk.source),
        part.map((r) => r.chunk.language),
        part.map((r) => r.chunk.quality_score),
        part.map((r) => vectorLiteral(r.embedding)),
      ]);
    }
  }

  /** Inserts or replaces rows given column by column, in {@link COLUMNS} order (embeddings as vector literals). */
  private async write(q: Pick<DataSource, 'query'>, columns: unknown[][]): Promise<void> {
    await q.query(
      `INSERT INTO ${this.table} (${COLUMNS.join(', ')})
       SELECT u.id, u.doc, u.domain, u.type, u.source, u.language, u.quality, u.v::vector
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::real[], $8::text[])
         AS u(id, doc, domain, type, source, language, quality, v)
       ON CONFLICT (chunk_id) DO UPDATE SET embedding = EXCLUDED.embedding, document_id = EXCLUDED.document_id,
         domain = EXCLUDED.domain, document_type = EXCLUDED.document_type, source = EXCLUDED.source,
         language = EXCLUDED.language, quality_score = EXCLUDED.quality_score`,
      columns,
    );
  }

  async query(embedding: Float32Array, k: number, filter: SearchFilter): Promise<ScoredId[]> {
    const params: unknown[] = [vectorLiteral(embedding)];
    const conditions = filterConditions(filter, params, 'v', 'document_id');
    const filtered = conditions.length > 0;
    // HNSW yields at most ef_search candidates, before the filter: widen it to k (4 k when filtered). Filter fields
    // live in the vector table itself. set_config(…, true) lasts for this statement's own transaction; the one-row
    // cfg is the outer side of the LATERAL join (the inner side refers to it), so it is set before the index scan
    // starts, in one round trip instead of BEGIN, SET LOCAL, SELECT, COMMIT.
    params.push(String(Math.min(1000, Math.max(40, k * (filtered ? 4 : 1)))), k);
    const rows = await preparedQuery<{ chunk_id: string; score: number }>(
      this.db,
      `SELECT h.chunk_id, h.score
       FROM (SELECT set_config('hnsw.ef_search', $${params.length - 1}, true) AS ef) cfg,
         LATERAL (SELECT v.chunk_id, 1 - (v.embedding <=> $1::vector) AS score FROM ${this.table} v
           WHERE ${['cfg.ef IS NOT NULL', ...conditions].join(' AND ')}
           ORDER BY v.embedding <=> $1::vector LIMIT $${params.length}) h`,
      params,
    );
    return rows.map((r) => ({ chunk_id: r.chunk_id, score: Number(r.score) }));
  }

  async deleteByDocuments(documentIds: string[]): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE document_id = ANY($1::text[])`, [documentIds]);
  }

  async count(): Promise<number> {
    const [r] = await this.db.query(`SELECT count(*)::int AS n FROM ${this.table}`);
    return r.n;
  }

  async close(): Promise<void> {}
}

export function vectorLiteral(v: Float32Array): string {
  return `[${Array.from(v, (x) => (Number.isFinite(x) ? x : 0)).join(',')}]`;
}
