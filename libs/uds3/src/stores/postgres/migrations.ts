/**
 * TypeORM migrations for the datasets service's own tables (prefix `ds_`). Run them on a DataSource whose
 * `migrationsTableName` is `ds_migrations` (see `uds3DataSourceOptions`), so they never mix with other services'.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildKeywordSegments } from './keyword-index.js';
import { CHUNK } from '../graph-ranking.js';

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

/**
 * BM25 keyword index (see keyword-index.ts): chunks get a dense number `no` and the ingest segment they belong to;
 * postings and segment statistics live in their own tables. Existing chunks are numbered and indexed in
 * segments of 1,000 (oldest first). The GIN index on `tsv` goes: nothing queries it any more.
 */
export class Uds3KeywordIndex1764200000000 implements MigrationInterface {
  name = 'Uds3KeywordIndex1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE SEQUENCE ds_chunks_no_seq AS integer`);
    await q.query(`ALTER TABLE ds_chunks ADD COLUMN no integer, ADD COLUMN kw_segment bigint`);
    await q.query(`UPDATE ds_chunks c SET no = o.no
      FROM (SELECT id, nextval('ds_chunks_no_seq') AS no FROM (SELECT id FROM ds_chunks ORDER BY document_id, seq) s) o WHERE o.id = c.id`);
    await q.query(`ALTER TABLE ds_chunks ALTER COLUMN no SET DEFAULT nextval('ds_chunks_no_seq'), ALTER COLUMN no SET NOT NULL`);
    await q.query(`ALTER SEQUENCE ds_chunks_no_seq OWNED BY ds_chunks.no`);
    await q.query(`CREATE UNIQUE INDEX ds_chunks_no ON ds_chunks (no)`);
    await q.query(`CREATE INDEX ds_chunks_kw_segment ON ds_chunks (kw_segment)`);
    await q.query(`CREATE SEQUENCE ds_kw_segment_seq`);
    // avgdl: the average chunk length the segment's impacts were computed with (the index's, when it was built)
    await q.query(`CREATE TABLE ds_kw_segments (
      id bigint PRIMARY KEY,
      chunk_count integer NOT NULL,
      total_len bigint NOT NULL,
      avgdl double precision NOT NULL)`);
    await q.query(`CREATE TABLE ds_kw_postings (
      term text NOT NULL,
      segment bigint NOT NULL,
      df integer NOT NULL,
      postings bytea NOT NULL,
      PRIMARY KEY (term, segment))`);
    await q.query(`CREATE INDEX ds_kw_postings_segment ON ds_kw_postings (segment)`);
    // packed ints and floats do not compress: store out of line without trying pglz
    await q.query(`ALTER TABLE ds_kw_postings ALTER COLUMN postings SET STORAGE EXTERNAL`);
    await q.query(`DROP INDEX IF EXISTS ds_chunks_tsv`);
    await q.query(`UPDATE ds_chunks SET kw_segment = (no - 1) / 1000 + 1`);
    const [{ segments }] = await q.query(`SELECT coalesce(max(kw_segment), 0)::int AS segments FROM ds_chunks`);
    if (segments > 0) await q.query(`SELECT setval('ds_kw_segment_seq', $1)`, [segments]);
    for (let s = 1; s <= segments; s++) await buildKeywordSegments(q, [s]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS ds_kw_postings`);
    await q.query(`DROP TABLE IF EXISTS ds_kw_segments`);
    await q.query(`DROP SEQUENCE IF EXISTS ds_kw_segment_seq`);
    await q.query(`ALTER TABLE ds_chunks DROP COLUMN IF EXISTS kw_segment, DROP COLUMN IF EXISTS no`);
    await q.query(`CREATE INDEX IF NOT EXISTS ds_chunks_tsv ON ds_chunks USING gin (tsv)`);
  }
}

/**
 * The graph's version: one row that every statement writing graph nodes or edges raises first, in its own
 * transaction, so graph searches can keep what they walked until it changes (`EntityWalkCache`), also when another
 * process or a person with psql wrote. BEFORE STATEMENT: the transaction takes the row's lock before any row lock
 * of the graph, so two writers queue there instead of deadlocking on each other's new nodes.
 */
export class Uds3GraphVersion1764300000000 implements MigrationInterface {
  name = 'Uds3GraphVersion1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE ds_graph_state (one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL)`);
    await q.query(`INSERT INTO ds_graph_state (version) VALUES (1)`);
    await q.query(`CREATE FUNCTION ds_graph_written() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE ds_graph_state SET version = version + 1;
        RETURN NULL;
      END $$`);
    for (const t of ['ds_graph_nodes', 'ds_graph_edges']) {
      await q.query(`CREATE TRIGGER ${t}_written BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${t}
        FOR EACH STATEMENT EXECUTE FUNCTION ds_graph_written()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['ds_graph_nodes', 'ds_graph_edges']) await q.query(`DROP TRIGGER IF EXISTS ${t}_written ON ${t}`);
    await q.query(`DROP FUNCTION IF EXISTS ds_graph_written()`);
    await q.query(`DROP TABLE IF EXISTS ds_graph_state`);
  }
}

/**
 * A graph walk's reads as one function: the graph's version, walkable seeds, walkable neighbours and chunk lists,
 * from one snapshot; the first step of a walk reads all of them at once (see PgGraphStore.expand). As a plain statement PostgreSQL planned it anew on
 * every call (its joins cost 0.6 ms to plan and 0.1 ms to run, at 100,000 chunks); a PL/pgSQL function keeps its
 * plan, and the SET clause makes that the generic one.
 */
export class Uds3GraphFirstStep1764400000000 implements MigrationInterface {
  name = 'Uds3GraphFirstStep1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION ds_graph_first_step(seeds text[], out_of text[], fanout int, lists_of text[])
      RETURNS TABLE (kind text, src text, dst text, degree int, version text)
      LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
      #variable_conflict use_column
      BEGIN
        RETURN QUERY
        SELECT 'v', g.version::text, NULL::text, NULL::int, NULL::text FROM ds_graph_state g
        UNION ALL
        SELECT 's', n.id, NULL, n.degree, n.xmin::text FROM ds_graph_nodes n
        WHERE n.id = ANY(seeds) AND n.degree <= fanout AND n.id NOT LIKE '${CHUNK}%'
        UNION ALL
        SELECT 'n', e.src, e.dst, n.degree, n.xmin::text
        FROM ds_graph_nodes s JOIN ds_graph_edges e ON e.src = s.id JOIN ds_graph_nodes n ON n.id = e.dst
        WHERE s.id = ANY(out_of) AND s.degree <= fanout AND s.id NOT LIKE '${CHUNK}%' AND e.dst NOT LIKE '${CHUNK}%'
          AND n.degree <= fanout
        UNION ALL
        SELECT 'c', n.id, e.dst, NULL, n.xmin::text
        FROM ds_graph_nodes n LEFT JOIN ds_graph_edges e ON e.src = n.id AND e.dst LIKE '${CHUNK}%'
        WHERE n.id = ANY(lists_of) AND n.degree <= fanout AND n.id NOT LIKE '${CHUNK}%';
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION IF EXISTS ds_graph_first_step(text[], text[], int, text[])`);
  }
}

/**
 * The entity nodes (keywords and citations) by degree, for the walkable set a graph store keeps (see
 * `PgGraphStore.learnWalkable`): read after every graph write, it scanned every node (60 ms at 100,000 chunks on the
 * server, on the main thread in PGlite); this index holds the 5 % that are entities.
 */
export class Uds3GraphEntities1764500000000 implements MigrationInterface {
  name = 'Uds3GraphEntities1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX ds_graph_nodes_entities ON ds_graph_nodes (degree) INCLUDE (id) WHERE kind = 'entity'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS ds_graph_nodes_entities`);
  }
}

export const UDS3_MIGRATIONS = [
  Uds3Initial1764130000000,
  Uds3KeywordIndex1764200000000,
  Uds3GraphVersion1764300000000,
  Uds3GraphFirstStep1764400000000,
  Uds3GraphEntities1764500000000,
];
export const UDS3_MIGRATIONS_TABLE = 'ds_migrations';
