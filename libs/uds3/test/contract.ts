/**
 * The UDS3 store contract: the behaviour every adapter of a store kind must show, written once and run
 * against each adapter on a real server (see store-contract.test.ts).
 */
import { expect, it } from 'vitest';
import { HashingEmbedder } from '../src/embed/hashing-embedder.js';
import type { GraphEdge, GraphNode, IndexedChunk, StoredDocument } from '../src/model.js';
import type { DocumentStore, GraphStore, VectorStore } from '../src/stores/interfaces.js';

export function storedDocument(id: string, content: string, extra: Partial<StoredDocument> = {}): StoredDocument {
  return {
    id,
    title: `Title ${id}`,
    content,
    domain: 'verwaltungsrecht',
    document_type: 'ruling',
    source: 'test',
    language: 'de',
    metadata: { n: 1, tags: ['a'] },
    content_hash: `hash-${id}-${content.length}`,
    token_count: content.split(' ').length,
    quality: {
      score: 0.8,
      signals: {
        length: { chars: content.length, tokens: 3, score: 1 },
        language: { detected: 'de', confidence: 1, score: 1 },
        repetition: { duplicate_line_ratio: 0, repeated_ngram_ratio: 0, boilerplate_ratio: 0, score: 1 },
        near_duplicate: { duplicate_of: null, similarity: 0, score: 1 },
        pii: { emails: 0, phones: 0, ibans: 0, score: 1 },
        readability: { flesch: 40, avg_sentence_words: 12, score: 0.8 },
      },
    },
    pair: null,
    ...extra,
  };
}

export function documentStoreContract(store: () => DocumentStore) {
  it('stores, reads back in the asked order, replaces and deletes documents', async () => {
    const s = store();
    const a = storedDocument('contract-a', 'Photovoltaik auf dem Dach — mit Umlauten äöü ß');
    const b = storedDocument('contract-b', 'Windenergie im Außenbereich nach § 35 BauGB');
    await s.putMany([a, b]);
    expect(await s.getMany(['contract-b', 'missing', 'contract-a'])).toEqual([b, a]);
    const a2 = { ...a, content: 'replaced content', metadata: { changed: true } };
    await s.putMany([a2]);
    expect(await s.getMany(['contract-a'])).toEqual([a2]);
    await s.deleteMany(['contract-a', 'never-stored']);
    expect(await s.getMany(['contract-a', 'contract-b'])).toEqual([b]);
    // a deleted id can be stored again
    await s.putMany([a]);
    expect(await s.getMany(['contract-a'])).toEqual([a]);
  });
}

const embedder = new HashingEmbedder(64);
const texts = [
  'Photovoltaik Anlage auf dem Dach eines Wohnhauses',
  'Windkraftanlage im Außenbereich genehmigen',
  'Denkmalschutz für historische Gebäude in der Altstadt',
  'Baugenehmigung für eine Garage an der Grundstücksgrenze',
  'Photovoltaik Freiflächenanlage auf einem Acker',
  'Lärmschutz an einer Bundesstraße',
];

function chunk(i: number, overrides: Partial<IndexedChunk> = {}): IndexedChunk {
  return {
    id: `doc${i}#0`,
    document_id: `doc${i}`,
    seq: 0,
    content: texts[i],
    token_count: 6,
    content_hash: `h${i}`,
    title: `T${i}`,
    domain: i % 2 === 0 ? 'energie' : 'bau',
    document_type: 'ruling',
    source: 'test',
    language: 'de',
    quality_score: i / 10,
    ...overrides,
  };
}

export function vectorStoreContract(store: () => VectorStore) {
  it('finds a stored vector as its own nearest neighbour with cosine similarity 1', async () => {
    const s = store();
    await s.init(embedder.dimension);
    const vectors = await embedder.embed(texts);
    await s.upsert(texts.map((_, i) => ({ chunk: chunk(i), embedding: vectors[i] })));
    expect(await s.count()).toBe(texts.length);
    const hits = await s.query(vectors[2], 3, {});
    expect(hits[0].chunk_id).toBe('doc2#0');
    expect(hits[0].score).toBeCloseTo(1, 4);
    expect(hits).toHaveLength(3);
    for (let i = 1; i < hits.length; i++) expect(hits[i].score).toBeLessThanOrEqual(hits[i - 1].score + 1e-9);
  });

  it('ranks lexically closer texts first and applies every filter inside the store', async () => {
    const s = store();
    const [q] = await embedder.embed(['Photovoltaik auf dem Dach']);
    const hits = await s.query(q, 6, {});
    expect(hits[0].chunk_id).toBe('doc0#0');
    const bau = await s.query(q, 6, { domain: ['bau'] });
    expect(bau.map((h) => h.chunk_id).sort()).toEqual(['doc1#0', 'doc3#0', 'doc5#0']);
    const good = await s.query(q, 6, { min_quality_score: 0.35 });
    expect(good.map((h) => h.chunk_id).sort()).toEqual(['doc4#0', 'doc5#0']);
    const two = await s.query(q, 6, { document_id: ['doc1', 'doc2'], language: ['de'], document_type: ['ruling'], source: ['test'] });
    expect(two.map((h) => h.chunk_id).sort()).toEqual(['doc1#0', 'doc2#0']);
  });

  it('returns k neighbours when k is larger than an index\'s default search width, nearest first', async () => {
    const s = store();
    const words = texts.join(' ').split(' ');
    const many = Array.from({ length: 150 }, (_, i) => `${words[i % words.length]} ${words[(i * 7) % words.length]} ${words[(i * 13) % words.length]} ${i}`);
    const vectors = await embedder.embed(many);
    await s.upsert(many.map((content, i) => ({ chunk: chunk(0, { id: `wide${i}#0`, document_id: `wide${i}`, content }), embedding: vectors[i] })));
    const hits = await s.query(vectors[0], 120, {});
    expect(hits).toHaveLength(120);
    expect(hits[0].chunk_id).toBe('wide0#0');
    for (let i = 1; i < hits.length; i++) expect(hits[i].score).toBeLessThanOrEqual(hits[i - 1].score + 1e-6);
    await s.deleteByDocuments(many.map((_, i) => `wide${i}`));
    expect(await s.count()).toBe(texts.length);
  });

  it('upserts in place and deletes by document', async () => {
    const s = store();
    const [v] = await embedder.embed(['Lärmschutz an einer Bundesstraße']);
    await s.upsert([{ chunk: chunk(0, { domain: 'laerm' }), embedding: v }]);
    expect(await s.count()).toBe(texts.length);
    expect((await s.query(v, 1, { domain: ['laerm'] }))[0].chunk_id).toBe('doc0#0');
    await s.deleteByDocuments(['doc0', 'doc1']);
    expect(await s.count()).toBe(texts.length - 2);
    expect((await s.query(v, 6, {})).map((h) => h.chunk_id)).not.toContain('doc0#0');
  });
}

// d1: chunk c1 cites § 35 BauGB; d2: chunk c2 cites § 34 BauGB (same law → 3 hops from § 35); c3 mentions "hub"
export const GRAPH_FIXTURE: { nodes: GraphNode[]; edges: GraphEdge[] } = {
  nodes: [
    { id: 'doc:d1', kind: 'document', label: 'D1' },
    { id: 'doc:d2', kind: 'document', label: 'D2' },
    { id: 'chunk:d1#0', kind: 'chunk', label: 'c1' },
    { id: 'chunk:d1#1', kind: 'chunk', label: 'c1b' },
    { id: 'chunk:d2#0', kind: 'chunk', label: 'c2' },
    { id: 'cite:§ 35 BauGB', kind: 'entity', label: '§ 35 BauGB' },
    { id: 'cite:§ 34 BauGB', kind: 'entity', label: '§ 34 BauGB' },
    { id: 'law:BauGB', kind: 'law', label: 'BauGB' },
  ],
  edges: [
    { src: 'doc:d1', dst: 'chunk:d1#0', kind: 'HAS_CHUNK' },
    { src: 'doc:d1', dst: 'chunk:d1#1', kind: 'HAS_CHUNK' },
    { src: 'doc:d2', dst: 'chunk:d2#0', kind: 'HAS_CHUNK' },
    { src: 'chunk:d1#0', dst: 'cite:§ 35 BauGB', kind: 'CITES' },
    { src: 'chunk:d2#0', dst: 'cite:§ 34 BauGB', kind: 'CITES' },
    { src: 'cite:§ 35 BauGB', dst: 'law:BauGB', kind: 'PART_OF' },
    { src: 'cite:§ 34 BauGB', dst: 'law:BauGB', kind: 'PART_OF' },
  ],
};

export function graphStoreContract(store: () => GraphStore) {
  const { nodes, edges } = GRAPH_FIXTURE;

  it('scores chunks by proximity to the seed entities', async () => {
    const s = store();
    await s.init();
    await s.upsert(nodes, edges);
    await s.upsert(nodes.slice(0, 2), edges.slice(0, 2)); // idempotent
    expect(await s.countNodes()).toBe(nodes.length);
    const hits = await s.expand(['cite:§ 35 BauGB'], 3, 10, 100);
    const score = Object.fromEntries(hits.map((h) => [h.chunk_id, h.score]));
    expect(score['d1#0']).toBeCloseTo(1); // cites it directly
    expect(score['d1#1']).toBeUndefined(); // chunk → doc → chunk: chunks are end points, never walked through
    expect(score['d2#0']).toBeCloseTo(1 / 3); // same law: § 35 → BauGB → § 34 → chunk
    expect(hits[0].chunk_id).toBe('d1#0');
    expect((await s.expand(['cite:§ 35 BauGB'], 1, 10, 100)).map((h) => h.chunk_id)).toEqual(['d1#0']);
    // two seeds add up; unknown seeds contribute nothing
    const both = await s.expand(['cite:§ 35 BauGB', 'cite:§ 34 BauGB', 'kw:unknown'], 1, 10, 100);
    expect(both.map((h) => h.chunk_id).sort()).toEqual(['d1#0', 'd2#0']);
  });

  it('does not walk through hubs, ignores hub seeds, and deletes a document with its chunks', async () => {
    const s = store();
    // a third citation of BauGB makes law:BauGB (3 edges) a hub for maxFanout 2, while § 35 (2 edges) is not
    await s.upsert([{ id: 'cite:§ 36 BauGB', kind: 'entity', label: '§ 36 BauGB' }], [{ src: 'cite:§ 36 BauGB', dst: 'law:BauGB', kind: 'PART_OF' }]);
    expect((await s.expand(['cite:§ 35 BauGB'], 3, 10, 3)).map((h) => h.chunk_id).sort()).toEqual(['d1#0', 'd2#0']);
    expect((await s.expand(['cite:§ 35 BauGB'], 3, 10, 2)).map((h) => h.chunk_id)).toEqual(['d1#0']);
    expect(await s.expand(['cite:§ 35 BauGB'], 3, 10, 1)).toEqual([]);
    await s.deleteDocuments(['d1']);
    const after = await s.expand(['cite:§ 35 BauGB'], 3, 10, 100);
    expect(after.map((h) => h.chunk_id)).toEqual(['d2#0']);
    expect(await s.countNodes()).toBe(nodes.length + 1 - 3);
  });

  it('sees edges that another store instance adds and deletes after this one has searched', async () => {
    const s = store();
    const other = store();
    await other.init();
    const query = () => s.expand(['cite:§ 35 BauGB', 'cite:§ 34 BauGB'], 3, 10, 100);
    const before = await query(); // a store that keeps chunk lists between searches now holds these
    expect(before.map((h) => h.chunk_id)).toEqual(['d2#0']);
    await other.upsert(
      [{ id: 'doc:d3', kind: 'document', label: 'D3' }, { id: 'chunk:d3#0', kind: 'chunk', label: 'c3' }],
      [{ src: 'doc:d3', dst: 'chunk:d3#0', kind: 'HAS_CHUNK' }, { src: 'chunk:d3#0', dst: 'cite:§ 35 BauGB', kind: 'CITES' }],
    );
    const added = await query();
    expect(added.map((h) => h.chunk_id)).toEqual(['d2#0', 'd3#0']);
    expect(added.map((h) => h.score)).toEqual([expect.closeTo(1 + 1 / 3, 9), expect.closeTo(1 + 1 / 3, 9)]);
    await other.deleteDocuments(['d2']);
    expect((await query()).map((h) => h.chunk_id)).toEqual(['d3#0']);
    // a new path between entities (a store that keeps the walk between searches holds BauGB's old neighbours)
    await other.upsert(
      [{ id: 'cite:§ 37 BauGB', kind: 'entity', label: '§ 37 BauGB' }, { id: 'doc:d4', kind: 'document', label: 'D4' }, { id: 'chunk:d4#0', kind: 'chunk', label: 'c4' }],
      [
        { src: 'cite:§ 37 BauGB', dst: 'law:BauGB', kind: 'PART_OF' },
        { src: 'doc:d4', dst: 'chunk:d4#0', kind: 'HAS_CHUNK' },
        { src: 'chunk:d4#0', dst: 'cite:§ 37 BauGB', kind: 'CITES' },
      ],
    );
    const walked = await query();
    expect(walked.map((h) => h.chunk_id)).toEqual(['d3#0', 'd4#0']);
    expect(walked[1].score).toBeCloseTo(2 / 3, 9); // three hops from each seed
    // a seed that becomes a hub is dropped (maxFanout 2: § 35 has d3's chunk and the law, and now d5's chunk)
    await other.upsert([{ id: 'doc:d5', kind: 'document', label: 'D5' }, { id: 'chunk:d5#0', kind: 'chunk', label: 'c5' }], [
      { src: 'doc:d5', dst: 'chunk:d5#0', kind: 'HAS_CHUNK' },
      { src: 'chunk:d5#0', dst: 'cite:§ 35 BauGB', kind: 'CITES' },
    ]);
    const narrow = () => s.expand(['cite:§ 35 BauGB'], 1, 10, 2);
    expect((await narrow()).map((h) => h.chunk_id)).toEqual([]);
    await other.deleteDocuments(['d5']);
    expect((await narrow()).map((h) => h.chunk_id)).toEqual(['d3#0']);
  });

  it('ranks exactly when a far layer is too large to list (5,000 chunk edges), on a cold and a warm store', async () => {
    // law:Big has 100 citations of 50 chunks each; seed cite:big0 reaches its own chunks at distance 1 and every
    // other citation's chunks at distance 3; seed kw:bigword reaches three chunks of cite:big5 at distance 1
    const s = store();
    await s.init();
    const nodes: GraphNode[] = [{ id: 'law:Big', kind: 'law', label: 'Big' }, { id: 'kw:bigword', kind: 'entity', label: 'bigword' }];
    const edges: GraphEdge[] = [];
    const chunk = (i: number, j: number) => `big${i}-${j}`;
    for (let i = 0; i < 100; i++) {
      nodes.push({ id: `cite:big${i}`, kind: 'entity', label: `big${i}` });
      edges.push({ src: `cite:big${i}`, dst: 'law:Big', kind: 'PART_OF' });
      for (let j = 0; j < 50; j++) {
        nodes.push({ id: `chunk:${chunk(i, j)}`, kind: 'chunk', label: chunk(i, j) });
        edges.push({ src: `chunk:${chunk(i, j)}`, dst: `cite:big${i}`, kind: 'CITES' });
      }
    }
    for (let j = 0; j < 3; j++) edges.push({ src: `chunk:${chunk(5, j)}`, dst: 'kw:bigword', kind: 'MENTIONS' });
    await s.upsert(nodes, edges);
    const byId = (a: string, b: string) => (a < b ? -1 : 1);
    const both = [0, 1, 2].map((j) => chunk(5, j)).sort(byId);
    const near = Array.from({ length: 50 }, (_, j) => chunk(0, j)).sort(byId);
    const far = Array.from({ length: 99 * 50 }, (_, x) => chunk(1 + Math.floor(x / 50), x % 50))
      .filter((c) => !both.includes(c))
      .sort(byId);
    const expected = [...both.map((c) => [c, 1 + 1 / 3]), ...near.map((c) => [c, 1]), ...far.slice(0, 7).map((c) => [c, 1 / 3])];
    // top 20: the far layer is only asked about the 53 chunks reached near (a membership test); top 60 needs seven
    // chunks reached only through it, so the layer is listed
    for (const run of ['cold', 'warm']) {
      for (const limit of [20, 60]) {
        const hits = await s.expand(['cite:big0', 'kw:bigword'], 3, limit, 500);
        expect(hits.map((h) => h.chunk_id), `${run}, top ${limit}`).toEqual(expected.slice(0, limit).map(([c]) => c));
        hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i][1] as number, 9));
      }
    }
  });
}
