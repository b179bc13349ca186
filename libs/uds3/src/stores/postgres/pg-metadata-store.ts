/**
 * PostgreSQL metadata store: documents' fields and quality, chunks with their full-text vectors, MinHash LSH
 * buckets, versions, lineage and statistics. Works the same on a PostgreSQL server and on embedded PGlite.
 */
import type { DataSource, EntityManager } from 'typeorm';
import type { Chunk, IndexedChunk, ScoredId, SearchFilter, StoredDocument } from '../../model.js';
import {
  buildKeywordSegments,
  ChunkIdsByNo,
  decodePostings,
  mergeSmallSegments,
  POSTING_BYTES,
  PostingsCache,
  rankQuery,
  ScoreAccumulator,
  SHORT_POSTINGS,
  WholeSegment,
  type PostingsRow,
} from './keyword-index.js';
import { filterConditions, pagesOf, preparedQuery, tsConfigFor, where } from './sql.js';

export interface DocumentBatchEntry {
  doc: StoredDocument;
  chunks: Chunk[];
  minhash: number[];
  bands: string[];
}

/** A chunk's fields; the text only where asked for (search reads the text of its final top k only). */
export type HydratedChunk = Omit<IndexedChunk, 'content'> & { content?: string };

export interface VersionRow {
  id: string;
  dataset: string;
  number: number;
  manifest_hash: string;
  selection: Record<string, unknown>;
  item_count: number;
  token_count: number;
  created_by: string | null;
  created_at: string;
}

export interface VersionItem {
  ord: number;
  chunk_id: string;
  document_id: string;
  content_hash: string;
  content: string;
  title: string;
  domain: string;
  document_type: string;
  quality_score: number;
  token_count: number;
  pair: { messages: { role: string; content: string }[]; alpaca?: { instruction: string; input: string; output: string } } | null;
}

export interface ManifestEntry {
  chunk_id: string;
  content_hash: string;
}

/** A chunk's fields with its document's, over `ds_chunks c JOIN ds_documents d`. */
const HYDRATED_COLUMNS = `c.id, c.document_id, c.seq, c.token_count, c.content_hash, d.title, d.domain, d.document_type,
  d.source, d.language, d.quality_score`;

/** A row read with {@link HYDRATED_COLUMNS} and a nullable `content` (numeric quality arrives as text). */
function hydrated(r: HydratedChunk & { content: string | null }): HydratedChunk {
  return { ...r, quality_score: Number(r.quality_score), content: r.content ?? undefined };
}

export const DEFAULT_TS_CONFIGS: Record<string, string> = { de: 'german', en: 'english' };

/** Default memory for decoded keyword postings (the whole index of 100,000 typical chunks takes about 60 MB). */
export const DEFAULT_POSTINGS_CACHE_BYTES = 128 * 2 ** 20;
/** The longest the start-up hold of whole segments decodes without letting searches in between (ms). */
const HOLD_SLICE_MS = 1;

export class PgMetadataStore {
  /** Memory for postings: the segments held whole take theirs from it, the per-term cache has the rest. */
  private readonly postingsBytes: number;
  private readonly postingsCache: PostingsCache;
  /** Segments held whole (see holdSegments), by id: searches read none of their rows while the version holds. */
  private readonly wholeSegments = new Map<string, WholeSegment>();
  /** Whether every segment of the last listing is held whole. */
  private allHeld = false;
  /**
   * Segments that did not fit beside those held, with their size at the version measured: the refresh after each
   * write does not read their term lists again while they still would not fit.
   */
  private readonly unheldBytes = new Map<string, { version: string; bytes: number }>();
  /** Ids of ranked chunks by number, for searches without a filter (none when the keyword cache is off). */
  private readonly chunkIds: ChunkIdsByNo | undefined;

  /**
   * `keywordCacheBytes`: 7/8 for decoded postings, 1/8 for chunk ids by number (about 80 bytes an id).
   * `shortPostings`: postings of at most this many chunks are read by every search that needs them, never cached
   * (see SHORT_POSTINGS; tests lower it so that small corpora have cached postings too).
   */
  constructor(
    private readonly db: DataSource,
    private readonly tsConfigs: Record<string, string> = DEFAULT_TS_CONFIGS,
    keywordCacheBytes = DEFAULT_POSTINGS_CACHE_BYTES,
    private readonly shortPostings = SHORT_POSTINGS,
  ) {
    this.postingsBytes = keywordCacheBytes - keywordCacheBytes / 8;
    this.postingsCache = new PostingsCache(this.postingsBytes);
    this.chunkIds = keywordCacheBytes > 0 ? new ChunkIdsByNo(Math.floor(keywordCacheBytes / 8 / 80)) : undefined;
  }

  private readonly accumulator = new ScoreAccumulator();

  /** The database the metadata (and keyword index) live in. */
  get dataSource(): DataSource {
    return this.db;
  }

  /** Fills the chunk ids by number with the newest chunks, so keyword search resolves its hits in memory from the start. */
  async warmChunkIds(): Promise<void> {
    if (!this.chunkIds) return;
    const rows: { no: number; id: string }[] = await this.db.query(
      `SELECT no, id FROM (SELECT no, id FROM ds_chunks ORDER BY no DESC LIMIT $1) newest ORDER BY no`,
      [this.chunkIds.maxEntries],
    );
    for (const r of rows) this.chunkIds.set(Number(r.no), r.id);
  }

  /**
   * Fills the keyword cache after a start: whole segments first (see holdSegments), then long postings (common
   * words: most searches need some) of the segments not held, most chunks first, until half of what is left of the
   * cache is filled or none are left, so that the first searches do not read them one by one. In pages of about
   * `pageBytes` (one statement each) that searches interleave with (the embedded engine serves one statement at a
   * time); `stop` ends it between pages. Each page reads its segments' versions with the postings, so what it caches
   * is tagged as a search would tag it. Returns the bytes held and cached.
   */
  async warmPostings(stop: () => boolean = () => false, pageBytes = 2 ** 20): Promise<number> {
    const held = await this.holdSegments(stop, pageBytes);
    const budget = this.postingsCache.maxBytes / 2;
    if (budget <= 0 || stop()) return held;
    const long: { term: string; segment: string; df: number }[] = await this.db.query(
      `SELECT term, segment::text AS segment, df FROM ds_kw_postings WHERE df > $1 AND segment <> ALL($2::bigint[])
       ORDER BY df DESC, term, segment`,
      [this.shortPostings, [...this.wholeSegments.keys()]],
    );
    // most chunks first, as long as they fit
    const chosen: typeof long = [];
    let planned = 0;
    for (const r of long) {
      if (planned + r.df * POSTING_BYTES > budget) continue;
      chosen.push(r);
      planned += r.df * POSTING_BYTES;
    }
    let cached = 0;
    for (const page of pagesOf(chosen, pageBytes, (r) => r.df * POSTING_BYTES)) {
      if (stop()) break;
      const rows: { term: string; segment: string; version: string; postings: Uint8Array }[] = await this.db.query(
        `SELECT p.term, p.segment::text AS segment, s.xmin::text AS version, p.postings
         FROM unnest($1::text[], $2::bigint[]) AS m(term, segment)
         JOIN ds_kw_postings p ON p.term = m.term AND p.segment = m.segment JOIN ds_kw_segments s ON s.id = p.segment`,
        [page.map((r) => r.term), page.map((r) => r.segment)],
      );
      for (const r of rows) {
        const postings = decodePostings(r.postings);
        this.postingsCache.put(r.term, r.segment, r.version, postings);
        cached += postings.nos.byteLength + postings.impacts.byteLength;
      }
    }
    return held + cached;
  }

  /**
   * Holds whole segments in memory, largest first, within 3/4 of the postings memory: every postings row of each at
   * one version. A keyword search then reads the list of segments and their versions, and no postings rows of a
   * segment held at the listed version: at 100,000 chunks its first statement cost PostgreSQL 0.06 against 0.17 ms
   * of CPU, and this process 0.05 against 0.12 ms (bench/README.md, ninth session). Segments that are new, or rebuilt
   * since they were held, are held anew here; held ones that are gone or rebuilt are dropped. Pages of about
   * `pageBytes`, each checked against the listed version (a segment rebuilt meanwhile is left for the next call);
   * `stop` ends it between pages. Returns the bytes added.
   */
  async holdSegments(stop: () => boolean = () => false, pageBytes = 2 ** 20): Promise<number> {
    const budget = (this.postingsBytes * 3) / 4;
    if (budget <= 0) return 0;
    const listed: { id: string; version: string; chunks: number }[] = await this.db.query(
      `SELECT id::text AS id, xmin::text AS version, chunk_count AS chunks FROM ds_kw_segments`,
    );
    const versionOf = new Map(listed.map((r) => [r.id, r.version]));
    for (const [id, whole] of this.wholeSegments) if (versionOf.get(id) !== whole.version) this.dropWholeSegment(id);
    for (const id of this.unheldBytes.keys()) if (!versionOf.has(id)) this.unheldBytes.delete(id);
    // largest first (by chunks: their postings are only counted by reading the segment's terms, below)
    const rest = listed.filter((r) => !this.wholeSegments.has(r.id)).sort((a, b) => b.chunks - a.chunks);
    let added = 0;
    for (const { id, version } of rest) {
      if (stop()) break;
      const known = this.unheldBytes.get(id);
      if (known?.version === version && this.heldBytes() + known.bytes > budget) continue;
      // The segment's terms in one row, as JSON (parsed natively): tens of thousands of rows of two fields each were
      // as many objects for the garbage collector to copy while they lived.
      const [list]: { terms: string[] | null; dfs: number[] | null }[] = await this.db.query(
        `SELECT json_agg(term) AS terms, json_agg(df) AS dfs FROM ds_kw_postings WHERE segment = $1`,
        [id],
      );
      const terms = list?.terms ?? [];
      const dfs = list?.dfs ?? [];
      const postings = dfs.reduce((sum, df) => sum + df, 0);
      const bytes = WholeSegment.bytesFor(terms.length, postings);
      if (this.heldBytes() + bytes > budget) {
        this.unheldBytes.set(id, { version, bytes });
        continue;
      }
      this.unheldBytes.delete(id);
      const whole = new WholeSegment(version, terms.length, postings);
      let intact = terms.length > 0;
      for (const page of pagesOf([...terms.keys()], pageBytes, (i) => dfs[i] * POSTING_BYTES + 64)) {
        if (!intact || stop()) break;
        // A page is one row: its terms' postings end to end in the order asked for, as one base64 text (a third more
        // bytes than the postings, where bytea's hex text has twice as many), cut apart here by the terms' dfs.
        const [read]: { version: string; found: number; postings: string }[] = await this.db.query(
          `SELECT s.xmin::text AS version, count(*)::int AS found, encode(string_agg(p.postings, ''::bytea ORDER BY m.ord), 'base64') AS postings
           FROM unnest($2::text[]) WITH ORDINALITY AS m(term, ord)
           JOIN ds_kw_postings p ON p.term = m.term AND p.segment = $1 JOIN ds_kw_segments s ON s.id = p.segment
           GROUP BY s.xmin::text`,
          [id, page.map((i) => terms[i])],
        );
        const packed = read ? Buffer.from(read.postings, 'base64') : undefined;
        intact = !!packed && read.version === version && read.found === page.length;
        // decoded a slice at a time: searches that arrive meanwhile wait for a slice, not for the page
        let slice = performance.now();
        for (let k = 0, at = 0; intact && k < page.length; k++) {
          const length = dfs[page[k]] * POSTING_BYTES;
          intact = at + length <= packed!.byteLength && whole.add(terms[page[k]], packed!.subarray(at, (at += length)));
          if ((k & 63) === 63 && performance.now() - slice > HOLD_SLICE_MS) {
            await new Promise((resolve) => setImmediate(resolve));
            slice = performance.now();
          }
        }
      }
      if (!intact || !whole.complete) continue;
      this.wholeSegments.set(id, whole);
      this.postingsCache.resize(this.postingsBytes - this.heldBytes());
      added += whole.bytes;
    }
    this.allHeld = listed.every((r) => this.wholeSegments.get(r.id)?.version === r.version);
    return added;
  }

  /** Segments held whole: how many, and their bytes. */
  get heldSegments(): { count: number; bytes: number } {
    return { count: this.wholeSegments.size, bytes: this.heldBytes() };
  }

  private heldBytes(): number {
    let bytes = 0;
    for (const whole of this.wholeSegments.values()) bytes += whole.bytes;
    return bytes;
  }

  private dropWholeSegment(id: string): void {
    if (!this.wholeSegments.delete(id)) return;
    this.allHeld = false;
    this.postingsCache.resize(this.postingsBytes - this.heldBytes());
  }

  transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  /** Replaces the documents (same id → old chunks, buckets go) inside the caller's transaction. */
  async writeDocuments(em: EntityManager, batch: DocumentBatchEntry[]): Promise<void> {
    if (!batch.length) return;
    const ids = batch.map((b) => b.doc.id);
    // replaced documents' chunks leave their keyword-index segments, which are rebuilt below
    const touched = await this.deleteChunksOf(em, ids);
    await em.query(`DELETE FROM ds_documents WHERE id = ANY($1::text[])`, [ids]);
    const [{ segment }] = await em.query(`SELECT nextval('ds_kw_segment_seq')::text AS segment`);
    const col = <T>(f: (b: DocumentBatchEntry) => T) => batch.map(f);
    await em.query(
      `INSERT INTO ds_documents (id, title, domain, document_type, source, language, metadata, content_hash, token_count,
         chunk_count, quality_score, quality, minhash, pair)
       SELECT u.id, u.title, u.domain, u.document_type, u.source, u.language, u.metadata::jsonb, u.content_hash, u.token_count,
         u.chunk_count, u.quality_score, u.quality::jsonb, translate(u.minhash, '[]', '{}')::bigint[], u.pair::jsonb
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[],
         $10::int[], $11::real[], $12::text[], $13::text[], $14::text[])
         AS u(id, title, domain, document_type, source, language, metadata, content_hash, token_count, chunk_count,
           quality_score, quality, minhash, pair)`,
      [
        ids,
        col((b) => b.doc.title),
        col((b) => b.doc.domain),
        col((b) => b.doc.document_type),
        col((b) => b.doc.source),
        col((b) => b.doc.language),
        col((b) => JSON.stringify(b.doc.metadata)),
        col((b) => b.doc.content_hash),
        col((b) => b.doc.token_count),
        col((b) => b.chunks.length),
        col((b) => b.doc.quality.score),
        col((b) => JSON.stringify(b.doc.quality)),
        col((b) => JSON.stringify(b.minhash)),
        col((b) => (b.doc.pair ? JSON.stringify(b.doc.pair) : null)),
      ],
    );
    const chunks = batch.flatMap((b) => b.chunks.map((c) => ({ c, doc: b.doc })));
    for (let i = 0; i < chunks.length; i += 2000) {
      const part = chunks.slice(i, i + 2000);
      const numbered: { no: number; id: string }[] = await em.query(
        `INSERT INTO ds_chunks (id, document_id, seq, content, content_hash, token_count, tsv, kw_segment)
         SELECT u.id, u.document_id, u.seq, u.content, u.content_hash, u.token_count,
           setweight(to_tsvector(u.cfg::regconfig, u.title), 'A') || to_tsvector(u.cfg::regconfig, u.content), $9::bigint
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[])
           AS u(id, document_id, seq, content, content_hash, token_count, cfg, title)
         RETURNING no, id`,
        [
          part.map((x) => x.c.id),
          part.map((x) => x.c.document_id),
          part.map((x) => x.c.seq),
          part.map((x) => x.c.content),
          part.map((x) => x.c.content_hash),
          part.map((x) => x.c.token_count),
          part.map((x) => tsConfigFor(x.doc.language, this.tsConfigs)),
          part.map((x) => (x.c.seq === 0 ? x.doc.title : '')),
          segment,
        ],
      );
      // numbers are never reused, so even a batch that rolls back leaves only entries no search will ask for
      for (const r of numbered) this.chunkIds?.set(Number(r.no), r.id);
      await em.query(
        `INSERT INTO ds_contents (hash, content) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (hash) DO NOTHING`,
        [part.map((x) => x.c.content_hash), part.map((x) => x.c.content)],
      );
    }
    const bands = batch.flatMap((b) => b.bands.map((band) => [band, b.doc.id]));
    if (bands.length) {
      await em.query(
        `INSERT INTO ds_lsh_bands (bucket, document_id) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
        [bands.map((x) => x[0]), bands.map((x) => x[1])],
      );
    }
    await buildKeywordSegments(em, [segment, ...touched]);
  }

  /**
   * Deletes the documents' chunks and returns the keyword-index segments they were in, as of the rows deleted: a
   * segment merge that moved them first (and committed while this waited on their row locks) names the new segment.
   */
  private async deleteChunksOf(em: EntityManager, documentIds: string[]): Promise<string[]> {
    const rows: { segment: string }[] = await em.query(
      `WITH gone AS (DELETE FROM ds_chunks WHERE document_id = ANY($1::text[]) RETURNING kw_segment)
       SELECT DISTINCT kw_segment::text AS segment FROM gone WHERE kw_segment IS NOT NULL`,
      [documentIds],
    );
    return rows.map((r) => r.segment);
  }

  /** Merges small keyword-index segments until none are due (see `segmentsToMerge`); returns how many merges ran. */
  mergeKeywordSegments(): Promise<number> {
    return mergeSmallSegments(this.db);
  }

  async existingDocumentIds(ids: string[]): Promise<string[]> {
    const rows = await this.db.query(`SELECT id FROM ds_documents WHERE id = ANY($1::text[])`, [ids]);
    return rows.map((r: { id: string }) => r.id);
  }

  async deleteDocuments(ids: string[]): Promise<number> {
    return this.db.transaction(async (em) => {
      const touched = await this.deleteChunksOf(em, ids);
      const rows = await em.query(`DELETE FROM ds_documents WHERE id = ANY($1::text[]) RETURNING id`, [ids]);
      await buildKeywordSegments(em, touched);
      return (Array.isArray(rows[0]) ? rows[0] : rows).length;
    });
  }

  /** Documents sharing at least one LSH bucket, with their signatures. */
  async lshCandidates(bands: string[], excludeIds: string[]): Promise<{ id: string; minhash: number[] }[]> {
    if (!bands.length) return [];
    const rows = await this.db.query(
      `SELECT d.id, d.minhash FROM ds_documents d
       WHERE d.id IN (SELECT document_id FROM ds_lsh_bands WHERE bucket = ANY($1::text[])) AND NOT d.id = ANY($2::text[])`,
      [bands, excludeIds],
    );
    return rows.map((r: { id: string; minhash: (string | number)[] }) => ({ id: r.id, minhash: r.minhash.map(Number) }));
  }

  /**
   * Keyword search, BM25 over the keyword index (keyword-index.ts), exact top k. The query's lexemes come from
   * every configured text-search config plus 'simple' (any of them may match: the query's language is unknown).
   * One round trip reads the lexemes, lists the segments with their versions and the index size, and reads the
   * postings rows of the lexemes: short postings whole (a rare word's, read every time: cheaper than a second round
   * trip), long ones only as their size. A second round trip reads the long postings the cache lacks or holds for
   * an older version of their segment (common words, rarely). Scores are summed here; then the best chunks are
   * resolved to ids through the filter in growing batches until k pass (deleted or filtered chunks are skipped;
   * without a filter, from memory where known). `onGraphVersion`: the first statement also reads the version of the
   * graph tables in this database (`ds_graph_state`) and hands it over as soon as it arrives, for a graph walk of the
   * same search (see `PgGraphStore.expand`).
   */
  async keywordSearch(queryText: string, k: number, filter: SearchFilter, onGraphVersion?: (version: string) => void): Promise<ScoredId[]> {
    const configs = [...new Set([...Object.values(this.tsConfigs), 'simple'])];
    // the segments held whole when the statement is sent: it reads none of their rows, and while every segment is
    // held (as at the last listing), no postings rows at all
    const held = [...this.wholeSegments.keys()];
    const headOnly = held.length > 0 && this.allHeld;
    const listing = `WITH q AS (SELECT coalesce(array_agg(DISTINCT x.lexeme), '{}') AS terms
                  FROM unnest($2::regconfig[]) AS cfg(c), unnest(to_tsvector(cfg.c, $1)) x)
       SELECT q.terms, s.segments, s.versions, s.n, NULL::text AS term, NULL::text AS segment, NULL::bytea AS postings,
         ${onGraphVersion ? '(SELECT version::text FROM ds_graph_state)' : 'NULL::text'} AS graph_version
       FROM q, (SELECT coalesce(array_agg(id::text), '{}') AS segments, coalesce(array_agg(xmin::text), '{}') AS versions,
                  coalesce(sum(chunk_count), 0)::text AS n
                FROM ds_kw_segments) s`;
    // all from one snapshot: the postings rows belong to exactly the segments (and versions) listed
    const read: {
      terms: string[] | null;
      segments: string[] | null;
      versions: string[] | null;
      n: string | null;
      term: string | null;
      segment: string | null;
      postings: Uint8Array | null;
      graph_version: string | null;
    }[] = headOnly
      ? await preparedQuery(this.db, listing, [queryText, configs])
      : await preparedQuery(
          this.db,
          `${listing}
       UNION ALL
       SELECT NULL, NULL, NULL, NULL, p.term, p.segment::text, CASE WHEN p.df <= $3 THEN p.postings END, NULL
       FROM q, ds_kw_postings p WHERE p.term = ANY(q.terms) AND p.segment <> ALL($4::bigint[])`,
          [queryText, configs, this.shortPostings, held],
        );
    const head = read.find((r) => r.terms !== null)!;
    if (head.graph_version !== null) onGraphVersion?.(head.graph_version);
    if (!head.terms!.length || !head.segments!.length || k <= 0) return [];
    const versionOf = new Map(head.segments!.map((segment, i) => [segment, head.versions![i]]));
    const rows: PostingsRow[] = [];
    const missing: { term: string; segment: string; version: string }[] = [];
    const cachedOrMissing = (segment: string, version: string) => {
      for (const term of head.terms!) {
        const postings = this.postingsCache.get(term, segment, version);
        if (postings) rows.push({ term, df: postings.nos.length, postings });
        else missing.push({ term, segment, version });
      }
    };
    for (const segment of held) {
      const version = versionOf.get(segment);
      const whole = this.wholeSegments.get(segment);
      if (whole && whole.version === version) {
        for (const term of head.terms!) {
          const postings = whole.get(term);
          if (postings) rows.push({ term, df: postings.nos.length, postings });
        }
        continue;
      }
      // gone, rebuilt, or dropped meanwhile by another search: its rows for the query terms are read below
      if (whole) this.dropWholeSegment(segment);
      if (version !== undefined) cachedOrMissing(segment, version);
    }
    if (headOnly) {
      // segments new since the last listing: their rows for the query terms are read below, and until they are
      // held too, searches read postings rows in their first statement again
      const heldNow = new Set(held);
      for (const [segment, version] of versionOf) {
        if (heldNow.has(segment)) continue;
        this.allHeld = false;
        cachedOrMissing(segment, version);
      }
    }
    for (const r of read) {
      if (r.term === null) continue;
      if (r.postings) {
        const postings = decodePostings(r.postings);
        rows.push({ term: r.term, df: postings.nos.length, postings });
        continue;
      }
      const version = versionOf.get(r.segment!)!;
      const postings = this.postingsCache.get(r.term, r.segment!, version);
      if (postings) rows.push({ term: r.term, df: postings.nos.length, postings });
      else missing.push({ term: r.term, segment: r.segment!, version });
    }
    if (missing.length) {
      // a segment rebuilt since the listing is cached under the listed version, which is never listed again
      const long: { term: string; segment: string; postings: Uint8Array }[] = await preparedQuery(
        this.db,
        `SELECT p.term, p.segment::text, p.postings
         FROM ds_kw_postings p JOIN unnest($1::text[], $2::bigint[]) AS m(term, segment) ON p.term = m.term AND p.segment = m.segment`,
        [missing.map((m) => m.term), missing.map((m) => m.segment)],
      );
      const found = new Map(long.map((r) => [`${r.segment}\u0000${r.term}`, r.postings]));
      for (const m of missing) {
        const packed = found.get(`${m.segment}\u0000${m.term}`);
        // gone only if the segment was rebuilt meanwhile; then the listed version is never listed again either
        if (!packed) continue;
        const postings = decodePostings(packed);
        this.postingsCache.put(m.term, m.segment, m.version, postings);
        rows.push({ term: m.term, df: postings.nos.length, postings });
      }
    }
    if (!rows.length) return [];
    const params: unknown[] = [];
    const conditions = filterConditions(filter, params);
    // a filter may reject most chunks: ask for more at once then, and four times more each round
    let batch = conditions.length ? 4 * k : k + 8;
    const ranking = rankQuery(this.accumulator, rows, Number(head.n!), batch);
    const from = conditions.length ? `ds_chunks c JOIN ds_documents d ON d.id = c.document_id` : `ds_chunks c`;
    params.push(null);
    const noParam = `$${params.length}`;
    const out: ScoredId[] = [];
    // Without a filter, ids come from memory where known: a chunk's number is never reused, and whether the chunk
    // still exists is what search's candidate check asks of every hit anyway.
    const known = conditions.length ? undefined : this.chunkIds;
    while (out.length < k && ranking.remaining > 0) {
      const next = ranking.next(batch);
      const ids = new Map<number, string>();
      const unknown = known
        ? next.filter((x) => {
            const id = known.get(x.no);
            if (id !== undefined) ids.set(x.no, id);
            return id === undefined;
          })
        : next;
      if (unknown.length) {
        params[params.length - 1] = unknown.map((x) => x.no);
        const found: { no: number; id: string }[] = await preparedQuery(
          this.db,
          `SELECT c.no, c.id FROM ${from} ${where([`c.no = ANY(${noParam}::int[])`, ...conditions])}`,
          params,
        );
        for (const r of found) {
          ids.set(Number(r.no), r.id);
          known?.set(Number(r.no), r.id);
        }
      }
      for (const x of next) {
        const id = ids.get(x.no);
        if (id !== undefined && out.length < k) out.push({ chunk_id: id, score: x.score });
      }
      batch *= 4;
    }
    return out;
  }

  /** The chunks among `ids` that pass the filter, with their documents' fields, and the text of those in `withText`. */
  async hydrate(ids: string[], filter: SearchFilter, withText: string[] = []): Promise<Map<string, HydratedChunk>> {
    const params: unknown[] = [ids, withText];
    const conditions = [`c.id = ANY($1::text[])`, ...filterConditions(filter, params)];
    const rows: (HydratedChunk & { content: string | null })[] = await preparedQuery(
      this.db,
      `SELECT ${HYDRATED_COLUMNS}, CASE WHEN c.id = ANY($2::text[]) THEN c.content END AS content
       FROM ds_chunks c JOIN ds_documents d ON d.id = c.document_id ${where(conditions)}`,
      params,
    );
    return new Map(rows.map((r) => [r.id, hydrated(r)]));
  }

  /**
   * Search's candidate check: which of `ids` exist and pass the filter, and the rows with text of those in `top`.
   * Without a filter, existence comes from the chunks' primary key alone (an index-only scan once vacuumed) and
   * only the top rows are joined with their documents and read in full.
   */
  async candidates(ids: string[], filter: SearchFilter, top: string[]): Promise<{ passing: Set<string>; rows: Map<string, HydratedChunk> }> {
    const params: unknown[] = [ids, top];
    const conditions = filterConditions(filter, params);
    if (conditions.length) {
      const rows = await this.hydrate(ids, filter, top);
      return { passing: new Set(rows.keys()), rows: new Map([...rows].filter(([, r]) => r.content !== undefined)) };
    }
    const found: (HydratedChunk & { content: string | null })[] = await preparedQuery(
      this.db,
      `SELECT c.id, NULL::text AS document_id, NULL::int AS seq, NULL::int AS token_count, NULL::text AS content_hash,
         NULL::text AS title, NULL::text AS domain, NULL::text AS document_type, NULL::text AS source, NULL::text AS language,
         NULL::real AS quality_score, NULL::text AS content
       FROM ds_chunks c WHERE c.id = ANY($1::text[]) AND c.id <> ALL($2::text[])
       UNION ALL
       SELECT ${HYDRATED_COLUMNS}, c.content
       FROM ds_chunks c JOIN ds_documents d ON d.id = c.document_id WHERE c.id = ANY($2::text[])`,
      params,
    );
    const rows = new Map<string, HydratedChunk>();
    for (const r of found) if (r.content !== null) rows.set(r.id, hydrated(r));
    return { passing: new Set(found.map((r) => r.id)), rows };
  }

  async getDocumentRow(id: string): Promise<Record<string, unknown> | undefined> {
    const rows = await this.db.query(
      `SELECT id, title, domain, document_type, source, language, metadata, content_hash, token_count, chunk_count,
         quality_score, quality, pair, created_at FROM ds_documents WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  async listChunks(documentId: string): Promise<Chunk[]> {
    return this.db.query(
      `SELECT id, document_id, seq, content, content_hash, token_count FROM ds_chunks WHERE document_id = $1 ORDER BY seq`,
      [documentId],
    );
  }

  /** Chunks with document fields, in stable order; used to rebuild other stores and for selections by filter. */
  async selectChunks(filter: SearchFilter, limit: number): Promise<ManifestEntry[]> {
    const params: unknown[] = [];
    const conditions = filterConditions(filter, params);
    params.push(limit);
    return this.db.query(
      `SELECT c.id AS chunk_id, c.content_hash FROM ds_chunks c JOIN ds_documents d ON d.id = c.document_id
       ${where(conditions)} ORDER BY c.document_id, c.seq LIMIT $${params.length}`,
      params,
    );
  }

  async logSearch(queryText: string, resultCount: number, avgScore: number | null): Promise<void> {
    await this.db.query(`INSERT INTO ds_search_log (query_text, result_count, avg_score) VALUES ($1, $2, $3)`, [
      queryText.slice(0, 500),
      resultCount,
      avgScore,
    ]);
  }

  async statistics(filter: SearchFilter = {}) {
    const params: unknown[] = [];
    const w = where(filterConditions(filter, params));
    const [totals] = await this.db.query(
      `SELECT count(*)::int AS documents, coalesce(sum(d.chunk_count), 0)::int AS chunks,
         coalesce(sum(d.token_count), 0)::bigint AS tokens, avg(d.quality_score) AS avg_quality
       FROM ds_documents d ${w}`,
      params,
    );
    const group = async (column: string) => {
      const rows = await this.db.query(`SELECT d.${column} AS key, count(*)::int AS n FROM ds_documents d ${w} GROUP BY 1 ORDER BY 1`, params);
      return Object.fromEntries(rows.map((r: { key: string; n: number }) => [r.key, r.n]));
    };
    const histogramRows = await this.db.query(
      `SELECT least(floor(d.quality_score * 10)::int, 9) AS bucket, count(*)::int AS n FROM ds_documents d ${w} GROUP BY 1`,
      params,
    );
    const histogram = Array.from({ length: 10 }, (_, i) => ({ from: i / 10, to: (i + 1) / 10, count: 0 }));
    for (const r of histogramRows as { bucket: number; n: number }[]) histogram[r.bucket].count = r.n;
    const [relevance] = await this.db.query(`SELECT avg(avg_score) AS avg, count(*)::int AS n FROM ds_search_log WHERE avg_score IS NOT NULL`);
    return {
      total_documents: totals.documents as number,
      total_chunks: totals.chunks as number,
      total_tokens: Number(totals.tokens),
      avg_quality_score: totals.avg_quality === null ? null : round3(Number(totals.avg_quality)),
      avg_relevance_score: relevance.avg === null ? null : round3(Number(relevance.avg)),
      searches: relevance.n as number,
      domains: (await group('domain')) as Record<string, number>,
      document_types: (await group('document_type')) as Record<string, number>,
      languages: (await group('language')) as Record<string, number>,
      quality_histogram: histogram,
    };
  }

  // ---- versions -------------------------------------------------------------------------------------------

  async findVersionByManifest(dataset: string, manifestHash: string): Promise<VersionRow | undefined> {
    const rows = await this.db.query(`SELECT * FROM ds_versions WHERE dataset = $1 AND manifest_hash = $2`, [dataset, manifestHash]);
    return rows[0] ? versionRow(rows[0]) : undefined;
  }

  /** Freezes the given chunks (in order) as the dataset's next version. */
  async insertVersion(v: {
    id: string;
    dataset: string;
    manifestHash: string;
    selection: Record<string, unknown>;
    chunkIds: string[];
    createdBy: string | null;
  }): Promise<VersionRow> {
    return this.db.transaction(async (em) => {
      // serialises version numbering per dataset
      await em.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`ds_versions:${v.dataset}`]);
      const [{ next }] = await em.query(`SELECT coalesce(max(number), 0) + 1 AS next FROM ds_versions WHERE dataset = $1`, [v.dataset]);
      await em.query(
        `INSERT INTO ds_versions (id, dataset, number, manifest_hash, selection, item_count, token_count, created_by)
         VALUES ($1, $2, $3, $4, $5::jsonb, 0, 0, $6)`,
        [v.id, v.dataset, next, v.manifestHash, JSON.stringify(v.selection), v.createdBy],
      );
      for (let i = 0; i < v.chunkIds.length; i += 5000) {
        const part = v.chunkIds.slice(i, i + 5000);
        await em.query(
          `INSERT INTO ds_version_items (version_id, ord, chunk_id, document_id, content_hash, title, domain, document_type,
             quality_score, token_count, pair)
           SELECT $1, $2 + s.ord - 1, c.id, c.document_id, c.content_hash, d.title, d.domain, d.document_type, d.quality_score,
             c.token_count, d.pair
           FROM unnest($3::text[]) WITH ORDINALITY AS s(id, ord)
           JOIN ds_chunks c ON c.id = s.id JOIN ds_documents d ON d.id = c.document_id`,
          [v.id, i, part],
        );
      }
      const [counts] = await em.query(
        `SELECT count(*)::int AS n, coalesce(sum(token_count), 0)::bigint AS tokens FROM ds_version_items WHERE version_id = $1`,
        [v.id],
      );
      if (counts.n !== v.chunkIds.length) throw new Error('chunks changed while the version was being frozen; retry');
      await em.query(`UPDATE ds_versions SET item_count = $2, token_count = $3 WHERE id = $1`, [v.id, counts.n, counts.tokens]);
      const [row] = await em.query(`SELECT * FROM ds_versions WHERE id = $1`, [v.id]);
      return versionRow(row);
    });
  }

  async getVersion(idOrRef: string): Promise<VersionRow | undefined> {
    const at = idOrRef.lastIndexOf('@');
    const rows =
      at > 0
        ? await this.db.query(`SELECT * FROM ds_versions WHERE dataset = $1 AND number = $2`, [
            idOrRef.slice(0, at),
            Number(idOrRef.slice(at + 1).replace(/^v/, '')) || -1,
          ])
        : await this.db.query(`SELECT * FROM ds_versions WHERE id = $1`, [idOrRef]);
    return rows[0] ? versionRow(rows[0]) : undefined;
  }

  async listVersions(dataset?: string): Promise<VersionRow[]> {
    const rows = dataset
      ? await this.db.query(`SELECT * FROM ds_versions WHERE dataset = $1 ORDER BY number`, [dataset])
      : await this.db.query(`SELECT * FROM ds_versions ORDER BY dataset, number`);
    return rows.map(versionRow);
  }

  async diffVersions(a: string, b: string) {
    const rows = await this.db.query(
      `SELECT coalesce(x.chunk_id, y.chunk_id) AS chunk_id,
         CASE WHEN x.chunk_id IS NULL THEN 'added' WHEN y.chunk_id IS NULL THEN 'removed'
              WHEN x.content_hash <> y.content_hash THEN 'changed' ELSE 'same' END AS change
       FROM (SELECT chunk_id, content_hash FROM ds_version_items WHERE version_id = $1) x
       FULL OUTER JOIN (SELECT chunk_id, content_hash FROM ds_version_items WHERE version_id = $2) y ON x.chunk_id = y.chunk_id
       ORDER BY 1`,
      [a, b],
    );
    const out = { added: [] as string[], removed: [] as string[], changed: [] as string[], unchanged: 0 };
    for (const r of rows as { chunk_id: string; change: string }[]) {
      if (r.change === 'same') out.unchanged++;
      else out[r.change as 'added' | 'removed' | 'changed'].push(r.chunk_id);
    }
    return out;
  }

  /** Streams a version's items in `ord` order, `batch` rows at a time (keyset pagination, bounded memory). */
  async *versionItems(versionId: string, batch = 1000): AsyncGenerator<VersionItem> {
    let after = -1;
    for (;;) {
      const rows: VersionItem[] = await this.db.query(
        `SELECT i.ord, i.chunk_id, i.document_id, i.content_hash, k.content, i.title, i.domain, i.document_type, i.quality_score,
           i.token_count, i.pair
         FROM ds_version_items i JOIN ds_contents k ON k.hash = i.content_hash
         WHERE i.version_id = $1 AND i.ord > $2 ORDER BY i.ord LIMIT $3`,
        [versionId, after, batch],
      );
      for (const r of rows) yield r;
      if (rows.length < batch) return;
      after = rows[rows.length - 1].ord;
    }
  }

  async addLineage(versionId: string, trainingJobId: string, relation = 'trained_on'): Promise<void> {
    await this.db.query(
      `INSERT INTO ds_lineage (version_id, training_job_id, relation) VALUES ($1, $2, $3)
       ON CONFLICT (version_id, training_job_id) DO UPDATE SET relation = EXCLUDED.relation`,
      [versionId, trainingJobId, relation],
    );
  }

  async lineageOfVersion(versionId: string): Promise<{ training_job_id: string; relation: string; created_at: string }[]> {
    return this.db.query(`SELECT training_job_id, relation, created_at FROM ds_lineage WHERE version_id = $1 ORDER BY created_at`, [versionId]);
  }

  async versionsOfJob(jobId: string): Promise<{ version_id: string; dataset: string; number: number; relation: string }[]> {
    return this.db.query(
      `SELECT l.version_id, v.dataset, v.number, l.relation FROM ds_lineage l JOIN ds_versions v ON v.id = l.version_id
       WHERE l.training_job_id = $1 ORDER BY v.dataset, v.number`,
      [jobId],
    );
  }
}

function versionRow(r: Record<string, unknown>): VersionRow {
  return {
    id: r.id as string,
    dataset: r.dataset as string,
    number: Number(r.number),
    manifest_hash: r.manifest_hash as string,
    selection: r.selection as Record<string, unknown>,
    item_count: Number(r.item_count),
    token_count: Number(r.token_count),
    created_by: (r.created_by as string) ?? null,
    created_at: r.created_at instanceof Date ? r.created_at.toISOString() : String(r.created_at),
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
