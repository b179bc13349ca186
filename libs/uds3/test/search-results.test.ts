/**
 * Search results come from the metadata store: an entry another store holds without metadata (left behind by a
 * crash between stores, say) is never returned and does not bend the other scores, and a filter applies to
 * every signal, graph hits included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedUds3, topicDocument } from '../src/testing.js';
import type { Uds3 } from '../src/uds3.js';

const docs = Array.from({ length: 24 }, (_, i) => topicDocument(i, 'r'));

describe('search results', () => {
  let db: Awaited<ReturnType<typeof embeddedUds3>>;
  let uds3: Uds3;
  beforeAll(async () => {
    db = await embeddedUds3(64);
    uds3 = db.uds3;
    await uds3.ingest(docs);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('ignores a vector without metadata, with the same scores as before it appeared', async () => {
    const hybrid = { query_text: 'Photovoltaik Dächer § 31 BauGB', top_k: 5 };
    // vector alone: the ghost is the best hit, so a replacement is read after the check
    const vectorOnly = { ...hybrid, search_types: ['vector'] };
    const before = [await uds3.search(hybrid, { log: false }), await uds3.search(vectorOnly, { log: false })];
    const [embedding] = await uds3.embedder.embed([hybrid.query_text]);
    const ghost = { ...before[0].results[0], id: 'ghost#0', chunk_id: 'ghost#0', document_id: 'ghost', source: 'x', language: 'de', seq: 0 };
    await uds3.stores.vectors.upsert([{ chunk: { ...ghost, content_hash: 'x', token_count: 1 } as never, embedding }]);
    expect((await uds3.stores.vectors.query(embedding, 1, {}))[0].chunk_id).toBe('ghost#0');
    for (const [i, body] of [hybrid, vectorOnly].entries()) {
      const after = await uds3.search(body, { log: false });
      expect(after.results.map((r) => r.chunk_id)).not.toContain('ghost#0');
      // every field: the text and the document's fields of results read after the check too
      expect(after.results).toEqual(before[i].results);
      expect(after.results).toHaveLength(5);
      expect(after.results.every((r) => r.content.length > 0 && r.title.length > 0)).toBe(true);
    }
  });

  it('checks only what can change the answer, and answers as if every candidate had been checked', async () => {
    // ghosts (vectors without metadata) near several queries and near documents: some become a signal's best hit,
    // some land inside the top k, some below it
    const queries = ['Photovoltaik Dächer § 31 BauGB', 'Windenergie Abstand', '§ 33 BauGB Bescheid', 'Lärmschutz Gemeinde 7'];
    const texts = [...queries, ...docs.slice(0, 8).map((d) => d.content)];
    const embeddings = await uds3.embedder.embed(texts);
    await uds3.stores.vectors.upsert(
      embeddings.map((embedding, i) => ({
        chunk: { id: `ghost${i}#0`, document_id: `ghost${i}`, seq: 0, content: texts[i], content_hash: 'x', token_count: 1, domain: 'baurecht', document_type: 'ruling', source: 'x', language: 'de', quality_score: 1 } as never,
        embedding,
      })),
    );
    for (const query_text of queries) {
      for (const search_types of [['vector', 'graph', 'keyword'], ['vector'], ['vector', 'keyword']]) {
        for (const top_k of [1, 5, 20]) {
          const body = { query_text, top_k, search_types };
          // min_quality_score 0 passes every chunk, but takes the path that checks every candidate
          const [checkingTop, checkingAll] = [await uds3.search(body, { log: false }), await uds3.search({ ...body, min_quality_score: 0 }, { log: false })];
          expect(checkingTop.results).toEqual(checkingAll.results);
          expect(checkingTop.results.some((r) => r.chunk_id.startsWith('ghost'))).toBe(false);
        }
      }
    }
  });

  it('applies a filter to graph hits too', async () => {
    const all = await uds3.search({ query_text: '§ 30 BauGB', top_k: 100, search_types: ['graph'] }, { log: false });
    expect(new Set(all.results.map((r) => r.domain)).size).toBe(2);
    const only = await uds3.search({ query_text: '§ 30 BauGB', top_k: 100, search_types: ['graph'], filters: { domain: 'baurecht' } }, { log: false });
    expect(only.results.length).toBeGreaterThan(0);
    expect(only.results.every((r) => r.domain === 'baurecht')).toBe(true);
    expect(only.results.map((r) => r.chunk_id)).toEqual(all.results.filter((r) => r.domain === 'baurecht').map((r) => r.chunk_id));
    // a short list whose unfiltered top 3 holds rejected hits: the text of the replacements is read as well
    expect(all.results.slice(0, 3).some((r) => r.domain !== 'baurecht')).toBe(true);
    const top3 = await uds3.search({ query_text: '§ 30 BauGB', top_k: 3, search_types: ['graph'], filters: { domain: 'baurecht' } }, { log: false });
    expect(top3.results.map((r) => [r.chunk_id, r.content])).toEqual(only.results.slice(0, 3).map((r) => [r.chunk_id, r.content]));
    expect(top3.results.every((r) => r.content.includes('BauGB'))).toBe(true);
  });
});
