import { describe, expect, it } from 'vitest';
import type { ScoredId } from '../model.js';
import { cachedGraphLinks, ChunkListCache, type WalkedNodes } from './graph-cache.js';
import { bySource, CHUNK, proximityTopK, type GraphLinks } from './graph-ranking.js';

/** A random corpus-shaped graph: chunks linked to keywords and citations, citations to laws; undirected. */
function randomGraph(seed: number, chunks: number) {
  let x = seed;
  const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const adj = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    for (const [p, q] of [[a, b], [b, a]]) {
      if (!adj.has(p)) adj.set(p, new Set());
      adj.get(p)!.add(q);
    }
  };
  for (let c = 0; c < chunks; c++) {
    const chunk = `${CHUNK}c${String(c).padStart(4, '0')}`;
    for (let k = 0, n = 1 + Math.floor(rnd() * 4); k < n; k++) link(chunk, `kw:${Math.floor(rnd() ** 2 * 40)}`);
    if (rnd() < 0.5) {
      const law = Math.floor(rnd() * 3);
      const cite = `cite:${law}.${Math.floor(rnd() * 12)}`;
      link(chunk, cite);
      link(cite, `law:${law}`);
    }
    if (rnd() < 0.1) link(chunk, `doc:${c % 7}`);
  }
  return { adj, rnd };
}

/** The definition, walked naively: BFS per seed through non-hub entity nodes, chunks are end points. */
function bruteForce(adj: Map<string, Set<string>>, seeds: string[], hops: number, limit: number, maxFanout: number): ScoredId[] {
  const degree = (n: string) => adj.get(n)?.size ?? 0;
  const total = new Map<string, number>();
  // seeds in id order, as the store reads them: a chunk's score is summed in the same order, so exact ties stay ties
  for (const seed of [...new Set(seeds)].sort()) {
    if (!adj.has(seed) || seed.startsWith(CHUNK) || degree(seed) > maxFanout) continue;
    const dist = new Map([[seed, 0]]);
    let frontier = [seed];
    for (let d = 1; d <= hops; d++) {
      const next: string[] = [];
      for (const n of frontier) {
        if (n.startsWith(CHUNK) || (d > 1 && degree(n) > maxFanout)) continue;
        for (const m of adj.get(n)!) {
          if (dist.has(m)) continue;
          dist.set(m, d);
          next.push(m);
        }
      }
      frontier = next;
    }
    for (const [n, d] of dist) if (n.startsWith(CHUNK)) total.set(n, (total.get(n) ?? 0) + 1 / d);
  }
  return [...total]
    .map(([n, score]) => ({ chunk_id: n.slice(CHUNK.length), score }))
    .sort((a, b) => b.score - a.score || (a.chunk_id < b.chunk_id ? -1 : 1))
    .slice(0, limit);
}

function inMemoryLinks(adj: Map<string, Set<string>>, maxFanout: number, calls: string[]): GraphLinks {
  const edges = (from: string[], keep: (dst: string) => boolean) =>
    from.flatMap((src) => [...(adj.get(src) ?? [])].filter(keep).map((dst) => ({ src, dst })));
  return {
    entityNeighbours: async (nodes) => {
      calls.push('entityNeighbours');
      return edges(nodes, (d) => !d.startsWith(CHUNK) && adj.get(d)!.size <= maxFanout).map((e) => ({ ...e, degree: adj.get(e.dst)!.size }));
    },
    chunksOf: async (nodes) => {
      calls.push('chunksOf');
      return bySource(edges(nodes, (d) => d.startsWith(CHUNK)));
    },
    linksBetween: async (chunks, nodes) => {
      calls.push('linksBetween');
      const wanted = new Set(nodes);
      return bySource(edges(chunks, (d) => wanted.has(d)).map((e) => ({ src: e.dst, dst: e.src })));
    },
  };
}

describe('proximityTopK', () => {
  it('equals the brute-force walk on random graphs, for every enumeration budget', async () => {
    const paths = new Set<string>();
    for (let g = 1; g <= 6; g++) {
      const { adj, rnd } = randomGraph(g, 300);
      const entities = [...adj.keys()].filter((n) => !n.startsWith(CHUNK));
      for (let q = 0; q < 25; q++) {
        const seeds = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => entities[Math.floor(rnd() * entities.length)]);
        if (rnd() < 0.2) seeds.push('kw:unknown');
        const hops = 1 + Math.floor(rnd() * 4);
        const limit = 1 + Math.floor(rnd() * 40);
        const maxFanout = [5, 40, 1000][Math.floor(rnd() * 3)];
        const expected = bruteForce(adj, seeds, hops, limit, maxFanout);
        const seedRows = [...new Set(seeds)]
          .filter((s) => adj.has(s) && adj.get(s)!.size <= maxFanout)
          .sort()
          .map((id) => ({ id, degree: adj.get(id)!.size }));
        for (const [budget, firstBatch] of [[0, undefined], [60, undefined], [100_000, undefined], [0, 1], [60, 3]]) {
          const calls: string[] = [];
          const got = await proximityTopK(seedRows, hops, limit, inMemoryLinks(adj, maxFanout, calls), budget, firstBatch);
          expect(got.map((h) => h.chunk_id)).toEqual(expected.map((h) => h.chunk_id));
          got.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i].score, 12));
          paths.add(calls.filter((c) => c !== 'entityNeighbours').join(','));
        }
      }
    }
    // all three ways out were taken: full enumeration, pruned by membership tests, and the fallback
    expect(paths).toContain('chunksOf');
    expect(paths).toContain('chunksOf,linksBetween');
    expect(paths).toContain('chunksOf,linksBetween,chunksOf');
    // membership tested batch by batch, stopping early or falling back after several batches
    expect([...paths].some((p) => p.startsWith('chunksOf,linksBetween,linksBetween') && !p.endsWith('chunksOf'))).toBe(true);
    expect([...paths].some((p) => p.startsWith('chunksOf,linksBetween,linksBetween') && p.endsWith('linksBetween,chunksOf'))).toBe(true);
  });

  it('reads a far layer only for the chunks that can still reach the top', async () => {
    // seed kw:k reaches 3 chunks directly; seed cite:1, through its law and cite:2, reaches 51 chunks at distance 3
    const adj = new Map<string, Set<string>>();
    const link = (a: string, b: string) => {
      for (const [p, q] of [[a, b], [b, a]]) (adj.get(p) ?? adj.set(p, new Set()).get(p)!).add(q);
    };
    for (const c of ['x1', 'x2', 'x3']) link(`${CHUNK}${c}`, 'kw:k');
    link('cite:1', 'law:L');
    link('cite:2', 'law:L');
    for (let i = 0; i < 50; i++) link(`${CHUNK}y${i}`, 'cite:2');
    link(`${CHUNK}x2`, 'cite:2');
    const calls: string[] = [];
    const got = await proximityTopK([{ id: 'cite:1', degree: 1 }, { id: 'kw:k', degree: 3 }], 3, 2, inMemoryLinks(adj, 100, calls), 10);
    expect(got.map((h) => h.chunk_id)).toEqual(['x2', 'x1']);
    expect(got[0].score).toBeCloseTo(1 + 1 / 3, 12);
    // the 50 chunks of cite:2 were never listed: only x1..x3 were asked whether they touch it
    expect(calls).toEqual(['entityNeighbours', 'entityNeighbours', 'chunksOf', 'linksBetween']);
  });

  it('enumerates a far layer when a chunk it has not seen can still win', async () => {
    // x1, x2 are 1 hop from seed kw:k; z is 3 hops from each of four citation seeds (via their law): 4/3
    const adj = new Map<string, Set<string>>();
    const link = (a: string, b: string) => {
      for (const [p, q] of [[a, b], [b, a]]) (adj.get(p) ?? adj.set(p, new Set()).get(p)!).add(q);
    };
    link(`${CHUNK}x1`, 'kw:k');
    link(`${CHUNK}x2`, 'kw:k');
    for (const c of ['c1', 'c2', 'c3', 'c4']) link(`cite:${c}`, 'law:L');
    link('cite:z', 'law:L');
    link(`${CHUNK}z`, 'cite:z');
    const seeds = [1, 2, 3, 4].map((i) => ({ id: `cite:c${i}`, degree: 1 })).concat({ id: 'kw:k', degree: 2 });
    const calls: string[] = [];
    const got = await proximityTopK(seeds, 3, 2, inMemoryLinks(adj, 100, calls), 8);
    expect(got.map((h) => h.chunk_id)).toEqual(['z', 'x1']);
    expect(got[0].score).toBeCloseTo(4 / 3, 12);
    expect(calls.slice(-3)).toEqual(['chunksOf', 'linksBetween', 'chunksOf']);
  });
});

describe('proximityTopK with cached chunk lists', () => {
  /** A store over `adj` whose node versions change with their edges, searched through `cachedGraphLinks`. */
  function versionedStore(adj: Map<string, Set<string>>) {
    const version = new Map<string, number>();
    const v = (n: string) => String(version.get(n) ?? 0);
    const calls: string[] = [];
    const link = (a: string, b: string, on: boolean) => {
      for (const [p, q] of [[a, b], [b, a]]) {
        if (!adj.has(p)) adj.set(p, new Set());
        if (on) adj.get(p)!.add(q);
        else adj.get(p)!.delete(q);
        version.set(p, (version.get(p) ?? 0) + 1);
      }
    };
    const search = (cache: ChunkListCache, seeds: string[], hops: number, limit: number, maxFanout: number) => {
      const walked: WalkedNodes = new Map();
      const seedRows = [...new Set(seeds)]
        .filter((s) => adj.has(s) && !s.startsWith(CHUNK) && adj.get(s)!.size <= maxFanout)
        .sort()
        .map((id) => ({ id, degree: adj.get(id)!.size }));
      for (const s of seedRows) walked.set(s.id, { version: v(s.id) });
      const base = inMemoryLinks(adj, maxFanout, calls);
      const links: GraphLinks = {
        ...base,
        entityNeighbours: async (nodes) => {
          const rows = await base.entityNeighbours(nodes);
          for (const r of rows) walked.set(r.dst, { version: v(r.dst) });
          return rows;
        },
      };
      const loader = {
        loadChunkLists: async (nodes: string[]) => {
          calls.push(`load:${nodes.length}`);
          return new Map(
            nodes.filter((n) => adj.has(n)).map((n) => [n, { version: v(n), chunks: [...adj.get(n)!].filter((c) => c.startsWith(CHUNK)) }]),
          );
        },
      };
      return proximityTopK(seedRows, hops, limit, cachedGraphLinks(links, loader, cache, walked), 60);
    };
    return { link, search, calls };
  }

  it('equals the brute-force walk while the graph changes, for every cache size', async () => {
    for (let g = 1; g <= 4; g++) {
      const { adj, rnd } = randomGraph(g, 300);
      const store = versionedStore(adj);
      const entities = [...adj.keys()].filter((n) => !n.startsWith(CHUNK));
      const chunks = [...adj.keys()].filter((n) => n.startsWith(CHUNK));
      // a cache far too small (every put evicts, the names table is replaced), a small one and an ample one
      const caches = [new ChunkListCache(2_000), new ChunkListCache(40_000), new ChunkListCache(10 ** 8)];
      for (let q = 0; q < 40; q++) {
        // chunks gain and lose entities between searches, as ingestion and deletes do
        for (let m = 0; m < 5; m++) {
          const [c, e] = [chunks[Math.floor(rnd() * chunks.length)], entities[Math.floor(rnd() ** 2 * entities.length)]];
          store.link(c, e, !adj.get(c)!.has(e));
        }
        const seeds = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => entities[Math.floor(rnd() ** 2 * entities.length)]);
        const hops = 2 + Math.floor(rnd() * 3);
        const limit = 1 + Math.floor(rnd() * 20);
        const maxFanout = [40, 1000][Math.floor(rnd() * 2)];
        const expected = bruteForce(adj, seeds, hops, limit, maxFanout);
        for (const cache of caches) {
          const got = await store.search(cache, seeds, hops, limit, maxFanout);
          expect(got.map((h) => h.chunk_id)).toEqual(expected.map((h) => h.chunk_id));
          got.forEach((h, k) => expect(h.score).toBeCloseTo(expected[k].score, 12));
          expect(cache.usedBytes).toBeLessThanOrEqual(cache.maxBytes);
        }
      }
      expect(caches[2].size).toBeGreaterThan(0);
    }
  });

  it('gives every search its own answer when searches over one cache run at the same time', async () => {
    const { adj, rnd } = randomGraph(7, 300);
    const store = versionedStore(adj);
    const entities = [...adj.keys()].filter((n) => !n.startsWith(CHUNK));
    const cache = new ChunkListCache(10 ** 8);
    const queries = Array.from({ length: 24 }, () => ({
      seeds: Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => entities[Math.floor(rnd() ** 2 * entities.length)]),
      hops: 2 + Math.floor(rnd() * 3),
      limit: 1 + Math.floor(rnd() * 20),
    }));
    await Promise.all(queries.map((q) => store.search(cache, q.seeds, q.hops, q.limit, 1000))); // the lists cached
    const together = await Promise.all(queries.map((q) => store.search(cache, q.seeds, q.hops, q.limit, 1000)));
    together.forEach((got, i) => expect(got).toEqual(bruteForce(adj, queries[i].seeds, queries[i].hops, queries[i].limit, 1000)));
  });

  it('answers a repeated search from memory, and reloads only the node whose edges changed', async () => {
    const adj = new Map<string, Set<string>>();
    const store = versionedStore(adj);
    for (let i = 0; i < 30; i++) store.link(`${CHUNK}x${i}`, `cite:${i % 3}`, true);
    for (let i = 0; i < 3; i++) store.link(`cite:${i}`, 'law:L', true);
    store.link(`${CHUNK}k`, 'kw:k', true);
    store.link(`${CHUNK}x3`, 'kw:k', true);
    const cache = new ChunkListCache(10 ** 6);
    const search = () => store.search(cache, ['kw:k', 'cite:0'], 3, 3, 100);
    const first = await search();
    const cold = store.calls.splice(0);
    expect(cold.filter((c) => c.startsWith('load:'))).not.toEqual([]);
    expect(await search()).toEqual(first);
    // warm: the walk still reads the entity nodes (and their versions), but no chunk edge
    expect(store.calls.splice(0).filter((c) => c !== 'entityNeighbours')).toEqual([]);
    // x3 leaves cite:0: only cite:0 and x3 change version; cite:0's list is read again, and the result changes
    store.link(`${CHUNK}x3`, 'cite:0', false);
    const after = await search();
    expect(store.calls.splice(0).filter((c) => c !== 'entityNeighbours')).toEqual(['load:1']);
    expect(after).not.toEqual(first);
    expect(after).toEqual(bruteForce(adj, ['kw:k', 'cite:0'], 3, 3, 100).map((h) => ({ ...h, score: expect.closeTo(h.score, 12) })));
  });
});
