import { describe, expect, it } from 'vitest';
import { ChunkListCache, type CachedChunkList } from './graph-cache.js';

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
