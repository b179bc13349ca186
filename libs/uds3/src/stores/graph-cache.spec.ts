import { describe, expect, it } from 'vitest';
import type { SourceChunks } from './graph-ranking.js';
import { cachedGraphLinks, ChunkListCache, EntityWalkCache, type CachedChunkList, type EntityRow, type NeighbourRow } from './graph-cache.js';

/** The (source → chunk) edges of what a GraphLinks answered, whether as ids or as ordinals. */
const edgesOf = (groups: SourceChunks[]) =>
  groups.flatMap((g) => ('ordinals' in g ? Array.from(g.ordinals, (o) => g.table.names[o]) : [...g.chunks]).map((dst) => ({ src: g.src, dst })));
const names = (e: CachedChunkList | undefined) => (e ? [...e.chunks].map((o) => e.interner.names[o]) : undefined);
const chunks = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `chunk:${prefix}${i}`);

describe('ChunkListCache', () => {
  it('returns a list only at the version it was stored with', () => {
    const cache = new ChunkListCache(10_000);
    cache.put('cite:a', '7', ['chunk:x', 'chunk:y']);
    expect(names(cache.get('cite:a', '7'))).toEqual(['chunk:x', 'chunk:y']);
    expect(cache.get('cite:a', '8')).toBeUndefined();
    // the stale list is gone, with its bytes
    expect(cache.get('cite:a', '7')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('names the nodes it keeps no list of, whatever the version', () => {
    const cache = new ChunkListCache(10_000);
    cache.put('cite:a', '7', ['chunk:x']);
    expect(cache.uncached(['cite:a', 'cite:b'])).toEqual(['cite:b']);
  });

  it('stays within its budget, dropping the least recently used list first', () => {
    // three lists over the same ten chunks: the names are stored once, each list costs about 100 bytes more
    const cache = new ChunkListCache(1_100);
    cache.put('a', '1', chunks('x', 10));
    cache.put('b', '1', chunks('x', 10));
    cache.get('a', '1'); // a is now newer than b
    cache.put('c', '1', chunks('x', 10));
    expect(cache.usedBytes).toBeLessThanOrEqual(1_100);
    expect(names(cache.get('a', '1'))).toEqual(chunks('x', 10));
    expect(cache.get('b', '1')).toBeUndefined();
    expect(names(cache.get('c', '1'))).toEqual(chunks('x', 10));
  });

  it('shares the names of chunks that several lists hold', () => {
    const cache = new ChunkListCache(10_000);
    cache.put('a', '1', chunks('x', 20));
    const one = cache.usedBytes;
    cache.put('b', '1', chunks('x', 20));
    expect(cache.usedBytes - one).toBeLessThan(200); // the second list costs its ordinals, not its names again
  });

  it('starts a new names table when old names fill the budget, and a list held meanwhile still reads', () => {
    const cache = new ChunkListCache(4_000);
    cache.put('a', '1', chunks('a', 20));
    const held = cache.get('a', '1');
    for (let i = 0; i < 10; i++) cache.put(`n${i}`, '1', chunks(`n${i}-`, 20));
    expect(cache.usedBytes).toBeLessThanOrEqual(4_000);
    expect(names(held)).toEqual(chunks('a', 20));
    expect(names(cache.get('n9', '1'))).toEqual(chunks('n9-', 20));
    // a list larger than the whole budget is not kept
    cache.put('huge', '1', chunks('h', 500));
    expect(cache.get('huge', '1')).toBeUndefined();
  });
});

describe('cachedGraphLinks', () => {
  it('answers which chunks of a batch touch cached nodes, batch after batch and search after search, from the lists alone', async () => {
    const cache = new ChunkListCache(100_000);
    cache.put('cite:a', '1', ['chunk:1', 'chunk:2', 'chunk:3']);
    cache.put('cite:b', '1', ['chunk:3', 'chunk:4']);
    const unused = async () => {
      throw new Error('not asked for: every list is cached');
    };
    const search = () =>
      cachedGraphLinks(
        { entityNeighbours: unused, chunksOf: unused, linksBetween: unused },
        { loadChunkLists: unused },
        cache,
        new Map([
          ['cite:a', { version: '1' }],
          ['cite:b', { version: '1' }],
        ]),
      );
    const first = search();
    expect(edgesOf(await first.linksBetween(['chunk:1', 'chunk:3'], ['cite:a', 'cite:b'], 5))).toEqual([
      { src: 'cite:a', dst: 'chunk:1' },
      { src: 'cite:a', dst: 'chunk:3' },
      { src: 'cite:b', dst: 'chunk:3' },
    ]);
    // the next batch, and another search: nothing of the batches before is taken for theirs
    expect(edgesOf(await first.linksBetween(['chunk:2'], ['cite:a', 'cite:b'], 5))).toEqual([{ src: 'cite:a', dst: 'chunk:2' }]);
    expect(edgesOf(await search().linksBetween(['chunk:4', 'chunk:9'], ['cite:a', 'cite:b'], 5))).toEqual([{ src: 'cite:b', dst: 'chunk:4' }]);
  });
});

describe('EntityWalkCache', () => {
  // a graph of entity rows and neighbour edges, counting which ids each read was asked for
  const graph = () => {
    const asked: string[][] = [];
    const rows: Record<string, EntityRow> = { a: { id: 'a', degree: 2, version: '10' }, b: { id: 'b', degree: 1, version: '11' } };
    const edges: NeighbourRow[] = [{ src: 'a', dst: 'b', degree: 1, version: '11' }];
    return {
      asked,
      rows,
      edges,
      seeds: async (ids: string[]) => (asked.push(['seeds', ...ids]), ids.flatMap((id) => (rows[id] ? [rows[id]] : []))),
      neighbours: async (ids: string[]) => (asked.push(['neighbours', ...ids]), edges.filter((e) => ids.includes(e.src))),
    };
  };

  it('answers a walk at the same version from memory, non-walkable seeds and nodes without neighbours included', async () => {
    const g = graph();
    const cache = new EntityWalkCache(100_000);
    for (let i = 0; i < 2; i++) {
      const walk = cache.walk('5', 500);
      expect(await walk.seeds(['a', 'kw:absent'], g.seeds)).toEqual([g.rows.a]);
      expect(await walk.neighbours(['a', 'b'], g.neighbours)).toEqual(g.edges);
    }
    expect(g.asked).toEqual([
      ['seeds', 'a', 'kw:absent'],
      ['neighbours', 'a', 'b'],
    ]);
    // only what is not cached yet is read
    expect(await cache.walk('5', 500).seeds(['b', 'a'], g.seeds)).toEqual([g.rows.a, g.rows.b]);
    expect(g.asked.at(-1)).toEqual(['seeds', 'b']);
  });

  it('names what a walk would read, as the cache stands: seeds not kept, and neighbours of seeds that may be walkable', async () => {
    const g = graph();
    const cache = new EntityWalkCache(100_000);
    expect(cache.uncached(['a', 'kw:absent'], 500, 'seeds')).toEqual(['a', 'kw:absent']);
    const walk = cache.walk('5', 500);
    await walk.seeds(['a', 'kw:absent'], g.seeds);
    expect(cache.uncached(['a', 'kw:absent', 'b'], 500, 'seeds')).toEqual(['b']);
    // kw:absent is known to be no walkable seed: nothing to walk from it
    expect(cache.mayWalk(['a', 'kw:absent', 'b'], 500)).toEqual(['a', 'b']);
    expect(cache.uncached(['a', 'kw:absent', 'b'], 500, 'neighbours')).toEqual(['a', 'b']);
    await walk.neighbours(['a'], g.neighbours);
    expect(cache.uncached(['a', 'kw:absent', 'b'], 500, 'neighbours')).toEqual(['b']);
    // kept for another hub threshold, nothing counts
    expect(cache.uncached(['a', 'kw:absent'], 2, 'seeds')).toEqual(['a', 'kw:absent']);
    expect(cache.mayWalk(['a', 'kw:absent'], 2)).toEqual(['a', 'kw:absent']);
  });

  it('with the walkable set known, a covered seed outside it is no walkable seed, and nothing is read for it', async () => {
    const g = graph();
    const cache = new EntityWalkCache(100_000);
    const covers = (id: string) => id.startsWith('kw:');
    cache.knowWalkable('5', 500, ['kw:a'], covers);
    expect(cache.knowsWalkable(500)).toBe(true);
    expect(cache.knowsWalkable(2)).toBe(false);
    // kw:absent is covered and not walkable; kw:a is walkable but not read yet; b is not covered
    expect(cache.uncached(['kw:a', 'kw:absent', 'b'], 500, 'seeds')).toEqual(['kw:a', 'b']);
    expect(cache.mayWalk(['kw:a', 'kw:absent', 'b'], 500)).toEqual(['kw:a', 'b']);
    expect(cache.uncached(['kw:absent'], 500, 'neighbours')).toEqual([]);
    expect(await cache.walk('5', 500).seeds(['kw:absent', 'b'], g.seeds)).toEqual([g.rows.b]);
    expect(g.asked).toEqual([['seeds', 'b']]);
    // for another threshold the set says nothing
    expect(cache.uncached(['kw:absent'], 2, 'seeds')).toEqual(['kw:absent']);
  });

  it('forgets the walkable set at a newer version, and ignores one read at an older version', async () => {
    const g = graph();
    const cache = new EntityWalkCache(100_000);
    const covers = (id: string) => id.startsWith('kw:');
    cache.knowWalkable('5', 500, [], covers);
    // a write made kw:new walkable: a walk at the newer version reads it
    g.rows['kw:new'] = { id: 'kw:new', degree: 1, version: '13' };
    expect(await cache.walk('6', 500).seeds(['kw:new'], g.seeds)).toEqual([g.rows['kw:new']]);
    expect(cache.knowsWalkable(500)).toBe(false);
    cache.knowWalkable('5', 500, [], covers); // read before the write, answered after it
    expect(cache.knowsWalkable(500)).toBe(false);
    expect(cache.uncached(['kw:other'], 500, 'seeds')).toEqual(['kw:other']);
    // a set read at a newer version than the cache's starts it afresh at that version
    cache.knowWalkable('7', 500, ['kw:new'], covers);
    expect(cache.knowsWalkable(500)).toBe(true);
    expect(cache.uncached(['kw:new', 'kw:other'], 500, 'seeds')).toEqual(['kw:new']);
  });

  it('keeps no walkable set larger than half its memory, and says it was read (not to be read again at that version)', async () => {
    const cache = new EntityWalkCache(1_000);
    cache.knowWalkable('5', 500, Array.from({ length: 20 }, (_, i) => `kw:${i}`), () => true);
    expect(cache.knowsWalkable(500)).toBe(true);
    expect(cache.uncached(['kw:absent'], 500, 'seeds')).toEqual(['kw:absent']);
    expect(cache.mayWalk(['kw:absent'], 500)).toEqual(['kw:absent']);
    await cache.walk('6', 500).seeds([], async () => []);
    expect(cache.knowsWalkable(500)).toBe(false);
  });

  it('drops everything at a newer version or another hub threshold', async () => {
    const g = graph();
    const cache = new EntityWalkCache(100_000);
    await cache.walk('5', 500).seeds(['a'], g.seeds);
    g.rows.a = { id: 'a', degree: 3, version: '12' };
    expect(await cache.walk('6', 500).seeds(['a'], g.seeds)).toEqual([g.rows.a]);
    expect(await cache.walk('6', 2).seeds(['a'], g.seeds)).toEqual([g.rows.a]);
    expect(g.asked).toEqual([['seeds', 'a'], ['seeds', 'a'], ['seeds', 'a']]);
    expect(await cache.walk('6', 2).seeds(['a'], g.seeds)).toEqual([g.rows.a]);
    expect(g.asked).toHaveLength(3);
  });

  it('reads through for an older version, and a walk overtaken by a newer version while reading stores nothing', async () => {
    const g = graph();
    const cache = new EntityWalkCache(100_000);
    await cache.walk('7', 500).seeds(['a'], g.seeds);
    // a search that read version 6 before the write that made 7: it reads, and neither uses nor changes the cache
    expect(await cache.walk('6', 500).seeds(['a', 'b'], g.seeds)).toEqual([g.rows.a, g.rows.b]);
    expect(g.asked.at(-1)).toEqual(['seeds', 'a', 'b']);
    await cache.walk('7', 500).seeds(['a'], g.seeds);
    expect(g.asked).toHaveLength(2);
    // version 8 arrives while a walk at 7 reads b: what it read may predate 8, so it is not kept
    const slow = cache.walk('7', 500);
    const reading = slow.seeds(['b'], async (ids) => {
      cache.walk('8', 500);
      return g.seeds(ids);
    });
    expect(await reading).toEqual([g.rows.b]);
    await cache.walk('8', 500).seeds(['b'], g.seeds);
    expect(g.asked.at(-1)).toEqual(['seeds', 'b']);
    expect(g.asked).toHaveLength(4);
  });

  it('stays within its budget, dropping the least recently used entry first', async () => {
    const g = graph();
    const ids = Array.from({ length: 50 }, (_, i) => `kw:word${i}`);
    const cache = new EntityWalkCache(2_000);
    const walk = cache.walk('1', 500);
    for (const id of ids) {
      await walk.seeds(['a'], g.seeds); // a stays the most recently used
      await walk.seeds([id], g.seeds);
      expect(cache.usedBytes).toBeLessThanOrEqual(2_000);
    }
    const before = g.asked.length;
    await walk.seeds(['a', ids.at(-1)!], g.seeds);
    expect(g.asked.length).toBe(before);
    await walk.seeds([ids[0]], g.seeds);
    expect(g.asked.at(-1)).toEqual(['seeds', ids[0]]);
  });
});
