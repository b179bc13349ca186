/**
 * Keyword search ranks title-matching chunks first and scans every matching chunk only when those cannot prove the
 * top k (PgMetadataStore.keywordSearch). Its results must equal the plain full ranking, ts_rank over every chunk that
 * matches the OR-ed query, on the real PostgreSQL server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { PgMetadataStore, type DocumentBatchEntry } from '../src/stores/postgres/pg-metadata-store.js';
import { localPostgres } from '../src/testing.js';

let db: { dataSource: DataSource; close(): Promise<void> };
let meta: PgMetadataStore;

let seed = 7;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const VOCAB = ['antrag', 'behörde', 'bauleitplan', 'windenergie', 'lärmschutz', 'denkmal', 'abstand', 'grundstück',
  'nutzung', 'außenbereich', 'genehmigung', 'wasserstraße', 'photovoltaik', 'immission', 'flächennutzung', 'verwaltung'];
// Skewed choice, so that some words are in many titles and bodies and others in few.
const word = () => VOCAB[Math.floor(VOCAB.length * rnd() ** 2)];
const words = (n: number) => Array.from({ length: n }, word).join(' ');

function entry(i: number): DocumentBatchEntry {
  const id = `d${i}`;
  const content = `${words(20)}. Nach § ${1 + (i % 40)} BauGB ${words(10)}.`;
  return {
    doc: {
      id, title: words(1 + (i % 3)), content, domain: i % 2 ? 'bau' : 'umwelt', document_type: 'ruling', source: 'test',
      language: 'de', metadata: {}, content_hash: id, token_count: 40, pair: null,
      quality: { score: 0.5 + (i % 5) / 10 } as DocumentBatchEntry['doc']['quality'],
    },
    chunks: [{ id: `${id}#0`, document_id: id, seq: 0, content, token_count: 40, content_hash: `${id}#0` }],
    minhash: [1, 2],
    bands: [],
  };
}

// Ten words found only in a few titles (one word each: score 0.608 / items) and, repeated, in the bodies of three
// other documents (ten body matches outscore one title match): the title stage alone would miss those three.
const RARE = 'quellwasser sandstrand meeresbucht felsküste flussufer bergsee waldrand heideland moorgebiet talsperre';
function special(): DocumentBatchEntry[] {
  const out: DocumentBatchEntry[] = [];
  for (let i = 0; i < 12; i++) {
    const e = entry(1000 + i);
    e.doc.id = e.chunks[0].document_id = `title${i}`;
    e.chunks[0].id = `title${i}#0`;
    e.doc.title = RARE.split(' ')[i % 10];
    out.push(e);
  }
  for (let i = 0; i < 3; i++) {
    const e = entry(2000 + i);
    e.doc.id = e.chunks[0].document_id = `heavy${i}`;
    e.chunks[0].id = `heavy${i}#0`;
    e.doc.title = 'Zusammenfassung';
    e.doc.content = e.chunks[0].content = `${RARE} ${RARE} ${RARE} ${RARE} ${RARE}`;
    out.push(e);
  }
  return out;
}

/** The reference: ts_rank over every matching chunk, the query built as keywordSearch builds it. */
async function fullRanking(query: string, k: number, domain?: string) {
  const q = ['german', 'english', 'simple'].map((c) => `replace(plainto_tsquery('${c}', $1)::text, ' & ', ' | ')::tsquery`).join(' || ');
  const rows = await db.dataSource.query(
    `SELECT c.id AS chunk_id, ts_rank(c.tsv, q.query) AS score
     FROM (SELECT ${q} AS query) q, ds_chunks c JOIN ds_documents d ON d.id = c.document_id
     WHERE c.tsv @@ q.query AND ($3::text IS NULL OR d.domain = $3)
     ORDER BY score DESC, c.id LIMIT $2`,
    [query, k, domain ?? null],
  );
  return rows.map((r: { chunk_id: string; score: number }) => ({ chunk_id: r.chunk_id, score: Number(r.score) }));
}

describe('PgMetadataStore.keywordSearch top k', () => {
  beforeAll(async () => {
    db = await localPostgres();
    meta = new PgMetadataStore(db.dataSource);
    const batch = [...Array.from({ length: 400 }, (_, i) => entry(i)), ...special()];
    await meta.transaction((em) => meta.writeDocuments(em, batch));
  });
  afterAll(async () => {
    await db?.close();
  });

  const queries = ['antrag', 'antrag behörde bauleitplan', 'verwaltung', 'flächennutzung immission verwaltung',
    '§ 12 BauGB', 'antrag § 3 BauGB wasserstraße', 'denkmal abstand grundstück nutzung außenbereich genehmigung', 'unbekannt', RARE, 'quellwasser bergsee'];

  it('returns exactly the full ranking for common, rare, many-word and citation queries and every k', async () => {
    let compared = 0;
    for (const query of queries) {
      for (const k of [1, 3, 10, 50]) {
        const expected = await fullRanking(query, k);
        const got = await meta.keywordSearch(query, k, {});
        expect(got.map((r) => r.chunk_id), `${query} k=${k}`).toEqual(expected.map((r: { chunk_id: string }) => r.chunk_id));
        got.forEach((r, i) => expect(r.score).toBeCloseTo(expected[i].score, 6));
        compared += expected.length;
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('finds body-only matches that outrank the title matches', async () => {
    const expected = await fullRanking(RARE, 10);
    expect(expected.slice(0, 3).map((r: { chunk_id: string }) => r.chunk_id).sort()).toEqual(['heavy0#0', 'heavy1#0', 'heavy2#0']);
    expect((await meta.keywordSearch(RARE, 10, {})).map((r) => r.chunk_id)).toEqual(expected.map((r: { chunk_id: string }) => r.chunk_id));
  });

  it('returns exactly the full ranking under a filter', async () => {
    for (const query of queries.slice(0, 4)) {
      const expected = await fullRanking(query, 10, 'bau');
      const got = await meta.keywordSearch(query, 10, { domain: ['bau'] });
      expect(got.map((r) => r.chunk_id), query).toEqual(expected.map((r: { chunk_id: string }) => r.chunk_id));
    }
  });
});
