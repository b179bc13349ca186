/**
 * The whole UDS3 pipeline on the distributed stores, each a real server: PostgreSQL (metadata, full text,
 * graph tables), CouchDB API (pouchdb-server) for documents, Chroma for vectors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createUds3 } from '../src/factory.js';
import type { DocumentInput } from '../src/model.js';
import type { VectorStore } from '../src/stores/interfaces.js';
import type { PgMetadataStore } from '../src/stores/postgres/pg-metadata-store.js';
import type { Uds3 } from '../src/uds3.js';
import { exportVersion } from '../src/versions/export.js';
import { localPostgres, recordStatements, startChroma, startPouchServer, type RunningServer } from '../src/testing.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let db: { dataSource: DataSource; close(): Promise<void> };
let couch: RunningServer;
let chroma: RunningServer;
let uds3: Uds3;
let dataDir: string;

const para = (topic: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${topic} Absatz ${i}: Die Behörde prüft den Antrag nach den Vorschriften des Baurechts sorgfältig.`).join(' ');

/** A second Uds3 on the same stores, as another replica of the datasets service (or the same one after a restart). */
const anotherInstance = () =>
  createUds3({
    dataSource: db.dataSource,
    documents: { kind: 'couchdb', url: couch.url, database: 'docs' },
    vectors: { kind: 'chroma', url: chroma.url, collection: 'dist' },
    graph: { kind: 'postgres' },
    embedder: { kind: 'hashing', dimension: 128 },
  });

/** The graph walk's own statements among those recorded. */
const graphSteps = (statements: string[]) => statements.filter((t) => t.includes('ds_graph_first_step'));

/** After `writer` ingests `doc`, a hybrid search by `searcher` reads the graph again and scores the new document. */
async function expectGraphWriteSeen(searcher: Uds3, writer: Uds3, hybrid: object, doc: DocumentInput, statements: string[]) {
  await writer.ingest([doc]);
  statements.length = 0;
  const after = await searcher.search(hybrid);
  expect(graphSteps(statements)).not.toEqual([]);
  expect(after.results.find((r) => r.document_id === doc.id)?.scores.graph).toBeGreaterThan(0);
}

describe('Uds3 on PostgreSQL + CouchDB + Chroma', () => {
  beforeAll(async () => {
    [db, couch, chroma] = await Promise.all([localPostgres(), startPouchServer(), startChroma()]);
    uds3 = await createUds3({
      dataSource: db.dataSource,
      documents: { kind: 'couchdb', url: couch.url, database: 'docs' },
      vectors: { kind: 'chroma', url: chroma.url, collection: 'dist' },
      graph: { kind: 'postgres' },
      embedder: { kind: 'hashing', dimension: 128 },
      options: { chunk: { maxTokens: 48, overlapTokens: 8 } },
    });
    dataDir = mkdtempSync(join(tmpdir(), 'uds3-dist-'));
  });
  afterAll(async () => {
    await uds3?.close();
    await Promise.allSettled([db?.close(), couch?.stop(), chroma?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ingests into every store and finds documents by each signal', async () => {
    const out = await uds3.ingest([
      { id: 'pv', title: 'Photovoltaik', content: `Photovoltaik auf dem Dach. ${para('Photovoltaik', 6)}`, domain: 'bau', language: 'de' },
      { id: 'aussen', title: 'Außenbereich', content: `Nach § 35 BauGB gilt im Außenbereich Folgendes. ${para('Außenbereich', 4)}`, domain: 'bau', language: 'de' },
      { id: 'wind', title: 'Windenergie', content: `Windenergieanlagen sind nach § 35 Abs. 1 Nr. 5 BauGB privilegiert. ${para('Windenergie', 3)}`, domain: 'energie', language: 'de' },
    ]);
    expect(out.document_ids).toEqual(['pv', 'aussen', 'wind']);
    expect(out.chunk_count).toBeGreaterThan(6);
    expect(await uds3.stores.vectors.count()).toBe(out.chunk_count);
    expect((await uds3.stores.documents.getMany(['aussen']))[0].title).toBe('Außenbereich');

    const keyword = await uds3.search({ query_text: 'Windenergieanlagen', search_types: ['keyword'] });
    expect(keyword.results[0].document_id).toBe('wind');
    const graph = await uds3.search({ query_text: 'Was gilt nach § 35 BauGB?', search_types: ['graph'], top_k: 50 });
    expect(graph.results.map((r) => r.document_id)).toEqual(expect.arrayContaining(['aussen', 'wind']));
    expect(graph.results[0].scores.graph).toBe(1);
    expect(['aussen', 'wind']).toContain(graph.results[0].document_id);
    const vector = await uds3.search({ query_text: 'Photovoltaik auf dem Dach', search_types: ['vector'], filters: { domain: 'bau' } });
    expect(vector.results[0].document_id).toBe('pv');
    expect(vector.results.every((r) => r.domain === 'bau')).toBe(true);
    const hybrid = await uds3.search({ query_text: 'Windenergie § 35 BauGB', weights: { vector: 1, graph: 1, keyword: 1 } });
    expect(hybrid.results[0].document_id).toBe('wind');
    expect(hybrid.results[0].scores.keyword).toBeGreaterThan(0);
  });

  it('a second instance on the loaded stores (a restart) reports itself warm once the warm-up has held the keyword segments', async () => {
    const restarted = await anotherInstance();
    try {
      // searches work meanwhile; the warm-up reads the segments in statements of its own, after init
      expect(restarted.warm).toBe(false);
      expect((await restarted.search({ query_text: 'Windenergieanlagen', search_types: ['keyword'] })).results[0].document_id).toBe('wind');
      expect(await restarted.keywordWarmUp).toBeGreaterThan(0);
      await restarted.warmUp;
      expect(restarted.warm).toBe(true);
      expect((restarted.stores.metadata as PgMetadataStore).heldSegments.count).toBeGreaterThan(0);
      // and the graph's caches hold the walkable entities' chunk lists, answering as a walk that reads them does
      expect((restarted.stores.graph as unknown as { cache: { size: number } }).cache.size).toBeGreaterThan(0);
      const graph = { query_text: 'Was gilt nach § 35 BauGB?', search_types: ['graph'], top_k: 50 };
      expect((await restarted.search(graph)).results).toEqual((await uds3.search(graph)).results);
    } finally {
      await restarted.close();
    }
  });

  it('a hybrid search reads the graph version in its keyword statement: no graph statement on warm caches, and another instance’s graph write is seen', async () => {
    const hybrid = { query_text: 'Windenergie § 35 BauGB', top_k: 20, weights: { vector: 1, graph: 1, keyword: 1 } };
    const before = await uds3.search(hybrid); // the graph caches now hold what this query's walk needs
    const other = await anotherInstance();
    await other.warmUp; // its statements are not this search's
    const { statements, restore } = recordStatements(db.dataSource);
    try {
      expect((await uds3.search(hybrid)).results).toEqual(before.results);
      expect(statements.some((t) => t.includes('ds_graph_state'))).toBe(true); // in the keyword listing
      expect(graphSteps(statements)).toEqual([]);
      // another instance writes the graph: the version read with the keyword statement is newer, and the walk reads
      const neu = { id: 'neu', title: 'Neu', content: `Auch Solarparks fallen unter § 35 BauGB. ${para('Solarpark', 2)}`, domain: 'energie', language: 'de' };
      await expectGraphWriteSeen(uds3, other, hybrid, neu, statements);
    } finally {
      restore();
      await other.deleteDocuments(['neu']);
      await other.close();
    }
  });

  it('after its warm-up an instance knows which query words name no entity (no graph statement), and still finds one that another instance makes an entity', async () => {
    const replica = await anotherInstance();
    await replica.warmUp; // learnt every walkable keyword and citation node at the graph's current version
    const hybrid = { query_text: 'Zauberwort Windenergie', top_k: 20, weights: { vector: 1, graph: 1, keyword: 1 } };
    const { statements, restore } = recordStatements(db.dataSource);
    try {
      const before = await replica.search(hybrid);
      expect(graphSteps(statements)).toEqual([]);
      expect(before.results.some((r) => r.document_id === 'zauber')).toBe(false);
      // "Zauberwort", frequent in a new document, becomes a keyword node: the graph's version moves on
      const zauber = { id: 'zauber', title: 'Zauberwort', content: `Zauberwort hier, Zauberwort dort. ${para('Zauberwort', 3)}`, domain: 'bau', language: 'de' };
      await expectGraphWriteSeen(replica, uds3, hybrid, zauber, statements);
    } finally {
      restore();
      await uds3.deleteDocuments(['zauber']);
      await replica.close();
    }
  });

  it('flags near-duplicates with MinHash LSH and lowers their quality', async () => {
    const original = (await uds3.getDocument('pv')) as unknown as { content: string; quality: { score: number } };
    const copy = `${original.content} Stand: 2024.`; // a re-published copy with a date line appended
    const out = await uds3.ingest([{ id: 'pv-copy', title: 'Photovoltaik (Kopie)', content: copy, domain: 'bau', language: 'de' }]);
    expect(out.near_duplicates).toEqual([{ id: 'pv-copy', duplicate_of: 'pv', similarity: expect.any(Number) }]);
    expect(out.near_duplicates[0].similarity).toBeGreaterThan(0.8);
    const stored = (await uds3.getDocument('pv-copy')) as unknown as { quality: { score: number; signals: { near_duplicate: { duplicate_of: string } } } };
    expect(stored.quality.signals.near_duplicate.duplicate_of).toBe('pv');
    expect(stored.quality.score).toBeLessThan(original.quality.score);
    const filtered = await uds3.search({ query_text: 'Photovoltaik Dach', min_quality_score: stored.quality.score + 0.001, top_k: 100 });
    expect(filtered.results.map((r) => r.document_id)).not.toContain('pv-copy');
  });

  it('is all-or-nothing: a store failing mid-batch leaves no trace in any store', async () => {
    const vectors = uds3.stores.vectors;
    const failing: VectorStore = Object.create(vectors);
    failing.upsert = async (records) => {
      await vectors.upsert(records); // the write reaches Chroma, then the "connection drops"
      throw new Error('vector store connection lost');
    };
    (uds3.stores as { vectors: VectorStore }).vectors = failing;
    try {
      await expect(
        uds3.ingest([
          { id: 'half-1', title: 'Teil 1', content: para('Lärmschutz', 3), domain: 'umwelt' },
          { id: 'half-2', title: 'Teil 2', content: para('Immissionsschutz', 3), domain: 'umwelt' },
        ]),
      ).rejects.toThrow('connection lost');
    } finally {
      (uds3.stores as { vectors: VectorStore }).vectors = vectors;
    }
    expect(await uds3.stores.metadata.existingDocumentIds(['half-1', 'half-2'])).toEqual([]);
    expect(await uds3.stores.documents.getMany(['half-1', 'half-2'])).toEqual([]);
    const [q] = await uds3.embedder.embed(['Lärmschutz Absatz']);
    expect(await vectors.query(q, 10, { document_id: ['half-1', 'half-2'] })).toEqual([]);
    expect(await uds3.stores.graph.expand(['kw:lärmschutz'], 1, 10, 100)).toEqual([]);
  });

  it('replaces a re-ingested document everywhere', async () => {
    const before = await uds3.stores.vectors.count();
    const oldChunks = (await uds3.stores.metadata.listChunks('wind')).length;
    await uds3.ingest([{ id: 'wind', title: 'Windenergie', content: 'Windenergieanlagen auf See unterliegen dem WindSeeG und nicht dem Baurecht der Länder.', domain: 'energie' }]);
    expect((await uds3.stores.metadata.listChunks('wind')).length).toBe(1);
    expect(await uds3.stores.vectors.count()).toBe(before - oldChunks + 1);
    expect((await uds3.stores.documents.getMany(['wind']))[0].content).toContain('WindSeeG');
  });

  it('freezes, exports deterministically and keeps a frozen version after its documents change', async () => {
    const { version } = await uds3.createVersion({ dataset: 'dist', filters: { domain: ['bau', 'energie'] } }, 'tester');
    const first = await exportVersion(uds3.stores.metadata, version, dataDir, { format: 'text', evalFraction: 0.25, seed: 1 });
    expect(first.train_count + first.eval_count).toBe(version.item_count);
    await uds3.ingest([{ id: 'aussen', title: 'Außenbereich', content: 'Völlig neuer Text zum Außenbereich ohne Bezug.', domain: 'bau' }]);
    const again = await exportVersion(uds3.stores.metadata, version, dataDir, { format: 'text', evalFraction: 0.25, seed: 1 });
    expect(readFileSync(again.train_path, 'utf8')).toBe(readFileSync(first.train_path, 'utf8'));
    const other = await exportVersion(uds3.stores.metadata, version, dataDir, { format: 'text', evalFraction: 0.25, seed: 2 });
    expect(other.train_count + other.eval_count).toBe(version.item_count);
    const { version: next } = await uds3.createVersion({ dataset: 'dist', filters: { domain: ['bau', 'energie'] } }, 'tester');
    expect(next.number).toBe(2);
    const diff = await uds3.diffVersions(version.id, next.id);
    expect(diff.removed.length).toBeGreaterThan(0);
    expect(diff.removed.every((c) => c.startsWith('aussen#'))).toBe(true);
    expect(diff.added.every((c) => c.startsWith('aussen#'))).toBe(true);
  });
});
