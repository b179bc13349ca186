/**
 * The BM25 keyword index (keyword-index.ts) against a brute-force BM25 computed here from the chunks' own
 * tsvectors, on the PostgreSQL server and on embedded PGlite: exact top k (ids and scores), with filters, after
 * deletes and replacements, and from a database migrated with chunks already in it (backfill).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import type { ScoredId, SearchFilter, StoredDocument } from '../src/model.js';
import { Uds3Initial1764130000000, UDS3_MIGRATIONS } from '../src/stores/postgres/migrations.js';
import { mergeSmallSegments } from '../src/stores/postgres/keyword-index.js';
import { DEFAULT_POSTINGS_CACHE_BYTES, DEFAULT_TS_CONFIGS, PgMetadataStore, type DocumentBatchEntry } from '../src/stores/postgres/pg-metadata-store.js';
import { embeddedPostgres, localPostgres, recordStatements } from '../src/testing.js';

// ---- a seeded corpus: German, English and unknown-language documents over a small Zipf-ish vocabulary --------
function corpus(seed: number) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() ** 2 * xs.length)]; // skewed towards the first words
  const WORDS: Record<string, string[]> = {
    de: ('Baugenehmigung Bebauungsplan Windenergieanlagen Außenbereich Behörde Antrag Genehmigungen Nachbar Abstand ' +
      'Lärmschutz Gemeinde Grundstücke Nutzung Denkmalschutz Photovoltaikanlage Dächer Verwaltungsgericht Klage Bescheid ' +
      'Frist Anhörung Gebäude Wohnhäuser Straßen Wasserrecht Immissionen Eigentümer').split(' '),
    en: ('permit planning turbines building authority application neighbours distance noise municipality parcels ' +
      'heritage roofs court appeal decision deadline hearing houses roads water emissions owners').split(' '),
    xx: 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor'.split(' '),
  };
  const FILL: Record<string, string[]> = { de: 'die der und ist nach dem den für mit'.split(' '), en: 'the and is of for with to'.split(' '), xx: [] };
  const langs = ['de', 'de', 'en', 'xx'];
  const text = (lang: string, n: number) =>
    Array.from({ length: n }, () => (rnd() < 0.3 && FILL[lang].length ? pick(FILL[lang]) : pick(WORDS[lang]))).join(' ');
  const doc = (id: string): DocumentBatchEntry => {
    const language = langs[Math.floor(rnd() * langs.length)];
    const chunks = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => text(language, 3 + Math.floor(rnd() * 25)));
    const quality = Math.round(rnd() * 100) / 100;
    const stored: StoredDocument = {
      id,
      title: text(language, 1 + Math.floor(rnd() * 3)),
      content: chunks.join(' '),
      domain: ['bau', 'umwelt', 'energie'][Math.floor(rnd() * 3)],
      document_type: ['regulation', 'ruling'][Math.floor(rnd() * 2)],
      source: 'test',
      language,
      metadata: {},
      content_hash: `h-${id}-${seed}`,
      token_count: chunks.join(' ').split(' ').length,
      quality: { score: quality, signals: {} as never },
      pair: null,
    };
    return {
      doc: stored,
      chunks: chunks.map((content, seq) => ({ id: `${id}#${seq}`, document_id: id, seq, content, token_count: 1, content_hash: `${id}#${seq}-${seed}` })),
      minhash: [1, 2],
      bands: [],
    };
  };
  const queries = (n: number) =>
    Array.from({ length: n }, () => {
      const lang = langs[Math.floor(rnd() * langs.length)];
      return Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(WORDS[lang])).join(' ');
    });
  return { doc, queries };
}

// ---- brute-force BM25 from the chunks' tsvectors (independent of the index tables except each segment's avgdl) --
const K1 = 1.2;
const B = 0.75;

async function bruteForce(db: DataSource, queryText: string, k: number, filter: SearchFilter): Promise<ScoredId[]> {
  const configs = [...new Set([...Object.values(DEFAULT_TS_CONFIGS), 'simple'])];
  const queryLexemes: string[] = (
    await db.query(`SELECT DISTINCT lexeme FROM unnest(${configs.map((c) => `to_tsvector('${c}', $1)`).join(' || ')})`, [queryText])
  ).map((r: { lexeme: string }) => r.lexeme);
  const rows: { id: string; document_id: string; no: number; avgdl: number; domain: string; quality_score: number; lexeme: string | null; positions: number[] | null; weights: string[] | null }[] =
    await db.query(
      `SELECT c.id, c.document_id, c.no, s.avgdl, d.domain, d.quality_score, u.lexeme, u.positions, u.weights
       FROM ds_chunks c JOIN ds_documents d ON d.id = c.document_id JOIN ds_kw_segments s ON s.id = c.kw_segment
       LEFT JOIN LATERAL unnest(c.tsv) u ON true`,
    );
  const chunks = new Map<string, { no: number; avgdl: number; pass: boolean; tf: Map<string, number>; dl: number }>();
  for (const r of rows) {
    let c = chunks.get(r.id);
    if (!c) {
      const pass = (!filter.domain || filter.domain.includes(r.domain)) && (!filter.document_id || filter.document_id.includes(r.document_id)) && (filter.min_quality_score === undefined || Number(r.quality_score) >= filter.min_quality_score);
      chunks.set(r.id, (c = { no: Number(r.no), avgdl: Number(r.avgdl), pass, tf: new Map(), dl: 0 }));
    }
    if (r.lexeme === null) continue;
    const tf = r.positions!.length + r.weights!.filter((w) => w === 'A').length;
    c.tf.set(r.lexeme, tf);
    c.dl += tf;
  }
  const n = chunks.size;
  const df = new Map(queryLexemes.map((t) => [t, [...chunks.values()].filter((c) => c.tf.has(t)).length]));
  const scored: { chunk_id: string; score: number; no: number }[] = [];
  for (const [id, c] of chunks) {
    let score = 0;
    let matched = false;
    for (const t of queryLexemes) {
      const tf = c.tf.get(t);
      if (!tf) continue;
      matched = true;
      const idf = Math.log(1 + (n - df.get(t)! + 0.5) / (df.get(t)! + 0.5));
      score += (idf * (tf * (K1 + 1))) / (tf + K1 * (1 - B + (B * c.dl) / c.avgdl));
    }
    if (matched && c.pass) scored.push({ chunk_id: id, score, no: c.no });
  }
  scored.sort((a, b) => b.score - a.score || a.no - b.no);
  return scored.slice(0, k).map(({ chunk_id, score }) => ({ chunk_id, score }));
}

/** Same scores rank by rank; same ids except where scores tie (within float4 rounding) at the k-th place. */
function expectSameTopK(got: ScoredId[], want: ScoredId[]) {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g.score - want[i].score)).toBeLessThan(1e-5));
  const last = want.length ? want[want.length - 1].score : 0;
  const firm = (xs: ScoredId[]) => xs.filter((x) => x.score > last + 1e-5).map((x) => x.chunk_id).sort();
  expect(firm(got)).toEqual(firm(want));
  const wantScore = new Map(want.map((w) => [w.chunk_id, w.score]));
  for (const g of got) if (wantScore.has(g.chunk_id)) expect(Math.abs(g.score - wantScore.get(g.chunk_id)!)).toBeLessThan(1e-5);
}

async function ingest(store: PgMetadataStore, entries: DocumentBatchEntry[]) {
  await store.transaction((em) => store.writeDocuments(em, entries));
}

/**
 * Postings of at most this many chunks are read with each search, longer ones cached: low here, so that these small
 * segments (about 100 chunks) have both. The store that starts on a loaded index keeps the default (all short).
 */
const SHORT = 8;

function keywordIndexSuite(open: () => Promise<{ dataSource: DataSource; close(): Promise<void> }>) {
  let db: { dataSource: DataSource; close(): Promise<void> };
  let store: PgMetadataStore;
  const gen = corpus(7);
  const queries = gen.queries(25);
  const compare = async (filter: SearchFilter, k: number) => {
    let nonEmpty = 0;
    for (const q of queries) {
      const want = await bruteForce(db.dataSource, q, k, filter);
      expectSameTopK(await store.keywordSearch(q, k, filter), want);
      if (want.length) nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThan(filter.document_id ? 3 : queries.length / 2);
  };

  beforeAll(async () => {
    db = await open();
    store = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, DEFAULT_POSTINGS_CACHE_BYTES, SHORT);
    // 300 documents in 6 ingest batches = 6 segments
    for (let b = 0; b < 6; b++) await ingest(store, Array.from({ length: 50 }, (_, i) => gen.doc(`d${b * 50 + i}`)));
  }, 120_000);
  afterAll(async () => db?.close());

  it('keeps per-segment statistics that match the chunks', async () => {
    const segs: { id: string; chunk_count: number; total_len: string; avgdl: number }[] = await db.dataSource.query(
      `SELECT id, chunk_count, total_len, avgdl FROM ds_kw_segments ORDER BY id`,
    );
    expect(segs.length).toBe(6);
    const [all] = await db.dataSource.query(
      `SELECT count(*)::int AS n, sum((SELECT coalesce(sum(cardinality(u.positions) + coalesce(cardinality(array_positions(u.weights, 'A')), 0)), 0)
         FROM unnest(c.tsv) u))::float8 AS len FROM ds_chunks c`,
    );
    expect(segs.reduce((s, x) => s + x.chunk_count, 0)).toBe(all.n);
    expect(segs.reduce((s, x) => s + Number(x.total_len), 0)).toBe(all.len);
    // the newest segment was built with the average over the whole index
    expect(segs[5].avgdl).toBeCloseTo(all.len / all.n, 9);
  });

  it('returns the exact BM25 top k', async () => {
    await compare({}, 10);
    await compare({}, 60);
  });

  it('returns the exact BM25 top k through a filter', async () => {
    await compare({ domain: ['energie'], min_quality_score: 0.5 }, 10);
    // a filter passing a few chunks only: resolved over several growing batches
    await compare({ document_id: ['d17', 'd123', 'd250', 'd251'] }, 2);
  });

  it('never returns deleted or replaced chunks and df follows the delete', async () => {
    expect(await store.deleteDocuments(['d1', 'd2', 'd3', 'd60', 'd299'])).toBe(5);
    const replaced = gen.doc('d100');
    const replacement = { ...replaced, doc: { ...replaced.doc, id: 'd4' }, chunks: replaced.chunks.map((c) => ({ ...c, id: c.id.replace('d100', 'd4'), document_id: 'd4' })) };
    await ingest(store, [replacement, gen.doc('d200'), gen.doc('d300')]);
    await compare({}, 10);
    await compare({ domain: ['bau'] }, 20);
    for (const q of queries) {
      const ids = (await store.keywordSearch(q, 500, {})).map((r) => r.chunk_id.split('#')[0]);
      for (const gone of ['d1', 'd2', 'd3', 'd60', 'd299']) expect(ids).not.toContain(gone);
    }
    const [{ postings }] = await db.dataSource.query(`SELECT count(*)::int AS postings FROM ds_kw_postings p
      WHERE NOT EXISTS (SELECT 1 FROM ds_chunks c WHERE c.kw_segment = p.segment)`);
    expect(postings).toBe(0);
  });

  it('never serves cached postings that another store instance has since rewritten, and stays exact with a tiny cache', async () => {
    await compare({}, 10); // this store's cache now holds the query terms' postings
    const other = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, DEFAULT_POSTINGS_CACHE_BYTES, SHORT); // e.g. a second datasets replica with its own cache
    expect(await other.deleteDocuments(['d5', 'd61', 'd150'])).toBe(3);
    await ingest(other, [gen.doc('d7'), gen.doc('d301')]); // d7 replaced: its segment is rebuilt
    await compare({}, 10);
    await compare({ domain: ['umwelt'] }, 15);
    const tiny = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, 4096, SHORT); // evicts on nearly every read
    for (const q of queries) expectSameTopK(await tiny.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
  });

  it('a store started on a loaded index knows its chunk ids from the start, and stays exact', async () => {
    const started = new PgMetadataStore(db.dataSource); // e.g. the datasets service after a restart
    await started.warmChunkIds();
    for (const q of queries) expectSameTopK(await started.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
  });

  it('a store that warmed its cache holds whole segments, reads no postings rows of them, stays exact, and rereads a rebuilt segment', async () => {
    const warm = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, DEFAULT_POSTINGS_CACHE_BYTES, SHORT);
    const segments = async () => (await db.dataSource.query(`SELECT count(*)::int AS n FROM ds_kw_segments`))[0].n as number;
    expect(await warm.warmPostings(() => true)).toBe(0); // told to stop before the first page
    expect(await warm.warmPostings()).toBeGreaterThan(0);
    expect(warm.heldSegments.count).toBe(await segments());
    const { statements: read, restore } = recordStatements(db.dataSource);
    // statements that read postings rows (a search's first statement does only while some segment is not held)
    const postingsReads = () => read.filter((t) => /ds_kw_postings/.test(t)).length;
    try {
      for (const q of queries) expectSameTopK(await warm.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
      expect(read.length).toBeGreaterThan(0);
      expect(postingsReads()).toBe(0);
      // another replica adds a segment whose document matches the first query best: the first search after it
      // (which still reads no postings rows in its first statement) finds it
      const other = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, DEFAULT_POSTINGS_CACHE_BYTES, SHORT);
      const match = gen.doc('d302');
      const content = `${queries[0]} ${queries[0]} ${queries[0]}`;
      await ingest(other, [{ ...match, chunks: [{ ...match.chunks[0], content, token_count: content.split(' ').length }] }]);
      const first = await warm.keywordSearch(queries[0], 10, {});
      expect(first[0].chunk_id).toBe(match.chunks[0].id);
      expectSameTopK(first, await bruteForce(db.dataSource, queries[0], 10, {}));
      // and rewrites a segment: its postings are read, not served from the segment held
      expect(await other.deleteDocuments(['d8', 'd9'])).toBe(2);
      for (const q of queries) expectSameTopK(await warm.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
      expect(postingsReads()).toBeGreaterThan(0);
      // held anew (as the refresh after writes does): the rebuilt segment and the new one
      expect(await warm.holdSegments()).toBeGreaterThan(0);
      expect(warm.heldSegments.count).toBe(await segments());
      read.length = 0;
      for (const q of queries) expectSameTopK(await warm.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
      expect(postingsReads()).toBe(0);
    } finally {
      restore();
    }
    // held in pages of a few terms each (one statement a page, its postings cut apart by the terms' dfs): the same
    // exact answers
    const paged = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, DEFAULT_POSTINGS_CACHE_BYTES, SHORT);
    expect(await paged.holdSegments(() => false, 256)).toBe(warm.heldSegments.bytes);
    expect(paged.heldSegments.count).toBe(await segments());
    for (const q of queries) expectSameTopK(await paged.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
    // within the postings memory (7/8 of the cache), segments held whole at most 3/4 of that
    const small = new PgMetadataStore(db.dataSource, DEFAULT_TS_CONFIGS, 8192, SHORT);
    const bytes = await small.warmPostings();
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(8192 * (7 / 8));
    expect(small.heldSegments.bytes).toBeLessThanOrEqual(8192 * (7 / 8) * (3 / 4));
    expect(small.heldSegments.count).toBeLessThan(await segments());
    for (const q of queries) expectSameTopK(await small.keywordSearch(q, 10, {}), await bruteForce(db.dataSource, q, 10, {}));
    // the refresh after a write does not read again the term lists of unchanged segments that did not fit
    const termLists: unknown[] = [];
    const dataSourceQuery = db.dataSource.query;
    db.dataSource.query = function (this: DataSource, ...args: Parameters<DataSource['query']>) {
      if (/FROM ds_kw_postings WHERE segment = \$1/.test(String(args[0]))) termLists.push(args[1]);
      return dataSourceQuery.apply(this, args);
    } as DataSource['query'];
    try {
      expect(await small.holdSegments()).toBe(0);
      expect(termLists).toEqual([]);
    } finally {
      db.dataSource.query = dataSourceQuery;
    }
  });

  it('merges the segments of many one-document ingestions, and stays exact for a store whose cache is warm', async () => {
    await compare({}, 10); // this store's cache holds the query terms' postings of the segments as they are now
    const other = new PgMetadataStore(db.dataSource); // the replica that ingests, one document per request
    const segments = async () => (await db.dataSource.query(`SELECT count(*)::int AS n FROM ds_kw_segments`))[0].n;
    const before = await segments();
    let merges = 0;
    for (let i = 0; i < 25; i++) {
      await ingest(other, [gen.doc(`single${i}`)]);
      merges += await other.mergeKeywordSegments();
    }
    expect(merges).toBeGreaterThanOrEqual(2);
    expect(await segments()).toBeLessThan(before + 10);
    const [{ orphans }] = await db.dataSource.query(
      `SELECT count(*)::int AS orphans FROM ds_chunks c WHERE NOT EXISTS (SELECT 1 FROM ds_kw_segments s WHERE s.id = c.kw_segment)`,
    );
    expect(orphans).toBe(0);
    await compare({}, 10);
    await compare({ domain: ['bau'] }, 20);
  });

  it('matches German inflected forms through stemming, and nothing for unknown words', async () => {
    await ingest(store, [
      {
        ...gen.doc('stem'),
        doc: { ...gen.doc('stem').doc, id: 'stem', title: 'Anlagen', language: 'de' },
        chunks: [{ id: 'stem#0', document_id: 'stem', seq: 0, content: 'Die Errichtung der Solarparks im Außenbereich', token_count: 6, content_hash: 'stem0' }],
      },
    ]);
    const hits = await store.keywordSearch('Solarpark', 5, {});
    expect(hits[0].chunk_id).toBe('stem#0');
    expect(hits[0].score).toBeGreaterThan(0);
    expect(await store.keywordSearch('xylophonquartett zzyzx', 10, {})).toEqual([]);
    expect(await store.keywordSearch('', 10, {})).toEqual([]);
  });
}

describe('keyword index on the PostgreSQL server', () => keywordIndexSuite(localPostgres));

describe('a segment merge and a delete at the same time (PostgreSQL server, two sessions)', () => {
  it('the delete rebuilds the segment its chunks were merged into, so no stale postings or counts remain', async () => {
    const db = await localPostgres();
    try {
      const store = new PgMetadataStore(db.dataSource);
      const gen = corpus(5);
      for (let i = 0; i < 10; i++) await ingest(store, [gen.doc(`s${i}`)]); // ten one-document segments: a merge is due
      let mergeMoved!: () => void;
      const moved = new Promise<void>((r) => (mergeMoved = r));
      let finishMerge!: () => void;
      const mayCommit = new Promise<void>((r) => (finishMerge = r));
      // the merge's session stops after moving the chunks, before it commits
      const merging = mergeSmallSegments({
        transaction: (work) =>
          db.dataSource.transaction((em) =>
            work({
              query: async (sql: string, params?: unknown[]) => {
                const out = await em.query(sql, params);
                if (sql.startsWith('UPDATE ds_chunks SET kw_segment')) {
                  mergeMoved();
                  await mayCommit;
                }
                return out;
              },
            }),
          ),
      });
      await moved;
      const deleting = store.deleteDocuments(['s3']); // waits for the merge's row locks
      await new Promise((r) => setTimeout(r, 300));
      finishMerge();
      expect(await merging).toBe(1);
      expect(await deleting).toBe(1);
      const segments: { id: string; chunk_count: number; chunks: number }[] = await db.dataSource.query(
        `SELECT s.id, s.chunk_count, (SELECT count(*)::int FROM ds_chunks c WHERE c.kw_segment = s.id) AS chunks FROM ds_kw_segments s`,
      );
      expect(segments).toHaveLength(1);
      expect(segments[0].chunk_count).toBe(segments[0].chunks);
      for (const q of gen.queries(15)) {
        const got = await store.keywordSearch(q, 10, {});
        expectSameTopK(got, await bruteForce(db.dataSource, q, 10, {}));
        expect(got.map((g) => g.chunk_id.split('#')[0])).not.toContain('s3');
      }
    } finally {
      await db.close();
    }
  }, 60_000);
});
describe('keyword index on embedded PGlite', () => keywordIndexSuite(embeddedPostgres));

/** A database migrated only to the first migration, filled the old way, then migrated to the keyword index. */
async function migrationBackfill(target: () => Promise<{ at: { url: string } | { dataDir: string }; drop(): Promise<void> }>) {
  const { acquireDataSource } = await import('@clara/platform');
  const place = await target();
  try {
    const old = await acquireDataSource({ ...place.at, migrations: [Uds3Initial1764130000000] });
    const gen = corpus(11);
    const entries = Array.from({ length: 40 }, (_, i) => gen.doc(`m${i}`));
    for (const e of entries) {
      await old.dataSource.query(
        `INSERT INTO ds_documents (id, title, domain, document_type, source, language, content_hash, token_count, chunk_count, quality_score, quality, minhash)
         VALUES ($1, $2, $3, 'regulation', 'test', $4, 'h', 1, $5, 0.5, '{}', '{1}')`,
        [e.doc.id, e.doc.title, e.doc.domain, e.doc.language, e.chunks.length],
      );
      for (const c of e.chunks) {
        await old.dataSource.query(
          `INSERT INTO ds_chunks (id, document_id, seq, content, content_hash, token_count, tsv)
           VALUES ($1, $2, $3, $4, $5, 1, setweight(to_tsvector($6::regconfig, $7), 'A') || to_tsvector($6::regconfig, $4))`,
          [c.id, e.doc.id, c.seq, c.content, c.content_hash, DEFAULT_TS_CONFIGS[e.doc.language] ?? 'simple', c.seq === 0 ? e.doc.title : ''],
        );
      }
    }
    await old.release();
    const migrated = await acquireDataSource({ ...place.at, migrations: UDS3_MIGRATIONS });
    try {
      const store = new PgMetadataStore(migrated.dataSource);
      let nonEmpty = 0;
      for (const q of gen.queries(10)) {
        const want = await bruteForce(migrated.dataSource, q, 10, {});
        expectSameTopK(await store.keywordSearch(q, 10, {}), want);
        if (want.length) nonEmpty++;
      }
      expect(nonEmpty).toBeGreaterThan(3);
      // new chunks continue the numbering
      await ingest(store, [gen.doc('after')]);
      const [{ dup }] = await migrated.dataSource.query(`SELECT count(*) - count(DISTINCT no) AS dup FROM ds_chunks`);
      expect(Number(dup)).toBe(0);
    } finally {
      await migrated.release();
    }
  } finally {
    await place.drop();
  }
}

describe('keyword index migration numbers and indexes chunks that existed before it', () => {
  it('on the PostgreSQL server', async () => {
    await migrationBackfill(async () => {
      const { createTestDatabase } = await import('@clara/platform/testing');
      const pg = await createTestDatabase('uds3_kwmig');
      return { at: { url: pg.url }, drop: () => pg.drop() };
    });
  }, 60_000);
  it('on embedded PGlite', async () => {
    await migrationBackfill(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'uds3-kwmig-'));
      return { at: { dataDir: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
    });
  }, 60_000);
});
