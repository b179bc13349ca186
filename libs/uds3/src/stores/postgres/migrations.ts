/**
 * TypeORM migrations for the datasets service's own tables (prefix `ds_`). Run them on a DataSource whose
 * `migrationsTableName` is `ds_migrations` (see `uds3DataSourceOptions`), so they never mix with other services'.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Uds3Initial1764130000000 implements MigrationInterface {
  name = 'Uds3Initial1764130000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ds_documents (
      id text PRIMARY KEY,
      title text NOT NULL,
      domain text NOT NULL,
      document_type text NOT NULL,
      source text NOT NULL,
      language text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}',
      content_hash text NOT NULL,
      token_count integer NOT NULL,
      chunk_count integer NOT NULL,
      quality_score real NOT NULL,
      quality jsonb NOT NULL,
      minhash bigint[] NOT NULL,
      pair jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX ds_documents_domain ON ds_documents (domain)`);
    await q.query(`CREATE INDEX ds_documents_type ON ds_documents (document_type)`);
    await q.query(`CREATE INDEX ds_documents_quality ON ds_documents (quality_score)`);
    await q.query(`CREATE TABLE ds_chunks (
      id text PRIMARY KEY,
      document_id text NOT NULL REFERENCES ds_documents(id) ON DELETE CASCADE,
      seq integer NOT NULL,
      content text NOT NULL,
      content_hash text NOT NULL,
      token_count integer NOT NULL,
      tsv tsvector NOT NULL)`);
    await q.query(`CREATE INDEX ds_chunks_document ON ds_chunks (document_id, seq)`);
    await q.query(`CREATE INDEX ds_chunks_tsv ON ds_chunks USING gin (tsv)`);
    // Content-addressed chunk texts: versions point here, so a frozen version survives re-ingestion.
    await q.query(`CREATE TABLE ds_contents (hash text PRIMARY KEY, content text NOT NULL)`);
    await q.query(`CREATE TABLE ds_lsh_bands (
      bucket text NOT NULL,
      document_id text NOT NULL REFERENCES ds_documents(id) ON DELETE CASCADE,
      PRIMARY KEY (bucket, document_id))`);
    await q.query(`CREATE INDEX ds_lsh_bands_document ON ds_lsh_bands (document_id)`);
    await q.query(`CREATE TABLE ds_versions (
      id text PRIMARY KEY,
      dataset text NOT NULL,
      number integer NOT NULL,
      manifest_hash text NOT NULL,
      selection jsonb NOT NULL,
      item_count integer NOT NULL,
      token_count bigint NOT NULL,
      created_by text,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (dataset, number),
      UNIQUE (dataset, manifest_hash))`);
    await q.query(`CREATE TABLE ds_version_items (
      version_id text NOT NULL REFERENCES ds_versions(id) ON DELETE CASCADE,
      ord integer NOT NULL,
      chunk_id text NOT NULL,
      document_id text NOT NULL,
      content_hash text NOT NULL REFERENCES ds_contents(hash),
      title text NOT NULL,
      domain text NOT NULL,
      document_type text NOT NULL,
      quality_score real NOT NULL,
      token_count integer NOT NULL,
      pair jsonb,
      PRIMARY KEY (version_id, ord))`);
    await q.query(`CREATE INDEX ds_version_items_chunk ON ds_version_items (version_id, chunk_id)`);
    await q.query(`CREATE TABLE ds_lineage (
      version_id text NOT NULL REFERENCES ds_versions(id),
      training_job_id text NOT NULL,
      relation text NOT NULL DEFAULT 'trained_on',
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (version_id, training_job_id))`);
    await q.query(`CREATE INDEX ds_lineage_job ON ds_lineage (training_job_id)`);
    await q.query(`CREATE TABLE ds_search_log (
      id bigserial PRIMARY KEY,
      created_at timestamptz NOT NULL DEFAULT now(),
      query_text text NOT NULL,
      result_count integer NOT NULL,
      avg_score real)`);
    // Graph store tables (used when the graph adapter is PostgreSQL). Edges are stored in both directions.
    await q.query(`CREATE TABLE ds_graph_nodes (
      id text PRIMARY KEY,
      kind text NOT NULL,
      label text NOT NULL,
      degree integer NOT NULL DEFAULT 0)`);
    await q.query(`CREATE TABLE ds_graph_edges (
      src text NOT NULL REFERENCES ds_graph_nodes(id) ON DELETE CASCADE,
      dst text NOT NULL REFERENCES ds_graph_nodes(id) ON DELETE CASCADE,
      kind text NOT NULL,
      PRIMARY KEY (src, dst, kind))`);
    await q.query(`CREATE INDEX ds_graph_edges_dst ON ds_graph_edges (dst)`);
    // Document bodies (used when the document adapter is PostgreSQL).
    await q.query(`CREATE TABLE ds_document_bodies (id text PRIMARY KEY, body jsonb NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['ds_document_bodies', 'ds_graph_edges', 'ds_graph_nodes', 'ds_search_log', 'ds_lineage', 'ds_version_items',
      'ds_versions', 'ds_lsh_bands', 'ds_contents', 'ds_chunks', 'ds_documents']) {
      await q.query(`DROP TABLE IF EXISTS ${t}`);
    }
  }
}

export const UDS3_MIGRATIONS = [Uds3Initial1764130000000];
export const UDS3_MIGRATIONS_TABLE = 'ds_migrations';
