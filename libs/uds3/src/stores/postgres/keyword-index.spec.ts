import { describe, expect, it, vi } from 'vitest';
import {
  ChunkIdsByNo,
  BM25_B,
  BM25_K1,
  bm25Idf,
  bm25Impact,
  decodePostings,
  MAX_MERGED_CHUNKS,
  MERGE_BELOW_CHUNKS,
  MERGE_FACTOR,
  POSTING_BYTES,
  PostingsCache,
  Ranking,
  rankQuery,
  ScoreAccumulator,
  segmentsToMerge,
  WholeSegment,
} from './keyword-index.js';

let seed = 99;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

/** Packs (no, impact) pairs the way PostgreSQL's int4send || float4send does (big-endian), inside a larger buffer. */
function pack(pairs: [number, number][]): Uint8Array {
  const buf = new ArrayBuffer(pairs.length * POSTING_BYTES + 16);
  const view = new DataView(buf, 8, pairs.length * POSTING_BYTES);
  pairs.forEach(([no, w], i) => {
    view.setInt32(i * POSTING_BYTES, no);
    view.setFloat32(i * POSTING_BYTES + 4, w);
  });
  return new Uint8Array(buf, 8, pairs.length * POSTING_BYTES);
}

describe('BM25 formulas', () => {
  it('impact: tf (k1+1) / (tf + k1 (1 − b + b dl/avgdl)), saturating at k1 + 1', () => {
    for (const [tf, dl, avgdl] of [[1, 10, 10], [3, 5, 20], [7, 40, 12]]) {
      const norm = BM25_K1 * (1 - BM25_B + (BM25_B * dl) / avgdl);
      expect(bm25Impact(tf, dl, avgdl)).toBeCloseTo((tf * (BM25_K1 + 1)) / (tf + norm), 12);
    }
    expect(bm25Impact(1e9, 10, 10)).toBeCloseTo(BM25_K1 + 1, 6);
    // longer chunks weigh a term occurrence less; more occurrences weigh more
    expect(bm25Impact(2, 30, 10)).toBeLessThan(bm25Impact(2, 10, 10));
    expect(bm25Impact(3, 10, 10)).toBeGreaterThan(bm25Impact(2, 10, 10));
  });

  it('idf: ln(1 + (N − df + 0.5)/(df + 0.5)), positive and falling with df', () => {
    expect(bm25Idf(1000, 10)).toBeCloseTo(Math.log(1 + 990.5 / 10.5), 12);
    expect(bm25Idf(1000, 1000)).toBeGreaterThan(0);
    expect(bm25Idf(1000, 500)).toBeLessThan(bm25Idf(1000, 50));
  });
});

describe('ScoreAccumulator', () => {
  it('sums idf · impact per chunk like a plain map, across segments of the same term, and starts clean on reuse', () => {
    const acc = new ScoreAccumulator();
    for (let round = 0; round < 3; round++) {
      const n = 5000;
      const rows = Array.from({ length: 12 }, (_, i) => {
        const nos = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 70_000)))].sort((a, b) => a - b);
        return { term: `t${i % 5}`, df: nos.length, pairs: nos.map((no) => [no, Math.fround(0.01 + rnd() * 2.2)] as [number, number]) };
      });
      const df = new Map<string, number>();
      for (const r of rows) df.set(r.term, (df.get(r.term) ?? 0) + r.df);
      const want = new Map<number, number>();
      for (const r of rows) {
        const idf = Math.log(1 + (n - df.get(r.term)! + 0.5) / (df.get(r.term)! + 0.5));
        for (const [no, w] of r.pairs) want.set(no, (want.get(no) ?? 0) + idf * w);
      }
      // the whole sum (no first batch to prune for)
      const ranking = rankQuery(acc, rows.map((r) => ({ term: r.term, df: r.df, postings: decodePostings(pack(r.pairs)) })), n, Infinity);
      expect(ranking.remaining).toBe(want.size);
      const got = new Map(ranking.next(1e9).map((x) => [x.no, x.score]));
      expect(got.size).toBe(want.size);
      for (const [no, s] of want) expect(got.get(no)).toBeCloseTo(s, 9);
    }
  });

  it('refuses a weight that is not positive (a chunk counts as scored once its score is not 0)', () => {
    const acc = new ScoreAccumulator();
    const postings = decodePostings(pack([[3, 0.5]]));
    for (const weight of [0, -1, Number.NaN]) expect(() => acc.add(postings, weight)).toThrow(RangeError);
    acc.add(postings, 2);
    expect(acc.size).toBe(1);
  });
});

describe('rankQuery (max-score pruning)', () => {
  /** A query's postings: a few rare terms (short lists, high impacts) and common ones (long lists), in 3 segments. */
  const queryRows = (rare: number, common: number, n: number) => {
    const rows = [];
    for (let t = 0; t < rare + common; t++) {
      const isRare = t < rare;
      const count = isRare ? 5 + Math.floor(rnd() * 120) : 3000 + Math.floor(rnd() * 30_000);
      const nos = [...new Set(Array.from({ length: count }, () => Math.floor(rnd() * n)))].sort((a, b) => a - b);
      // impacts from a few values: many exact ties between chunks
      const impact = () => Math.fround((1 + Math.floor(rnd() * (isRare ? 12 : 6))) / 5);
      for (let seg = 0; seg < 3; seg++) {
        const part = nos.filter((no) => no % 3 === seg);
        if (part.length) rows.push({ term: `t${t}`, df: part.length, postings: decodePostings(pack(part.map((no) => [no, impact()] as [number, number]))) });
      }
    }
    return rows;
  };

  it('hands out exactly what the whole computation ranks, batch after batch, pruned or not', () => {
    const acc = new ScoreAccumulator();
    // the pruned path looks the terms left up for the open chunks only
    const lookups = vi.spyOn(acc, 'addTo');
    const n = 100_000;
    let pruned = 0;
    let cases = 0;
    for (const [rare, common] of [[0, 2], [1, 2], [1, 3], [2, 3], [0, 4], [3, 0], [1, 1]]) {
      for (let round = 0; round < 4; round++) {
        const rows = queryRows(rare, common, n);
        // the whole computation: no first batch is ever reached, so nothing is pruned
        const whole = rankQuery(acc, rows, n, Infinity);
        expect(whole).toBeInstanceOf(Ranking);
        const want = whole.next(1e9);
        // and against a plain map (order of sums aside)
        const plain = new Map<number, number>();
        const df = new Map<string, number>();
        for (const r of rows) df.set(r.term, (df.get(r.term) ?? 0) + r.df);
        for (const r of rows) r.postings.nos.forEach((no, i) => plain.set(no, (plain.get(no) ?? 0) + bm25Idf(n, df.get(r.term)!) * r.postings.impacts[i]));
        expect(want.length).toBe(plain.size);
        for (const x of want.slice(0, 200)) expect(x.score).toBeCloseTo(plain.get(x.no)!, 9);
        for (const first of [10, 58, 200]) {
          cases++;
          lookups.mockClear();
          const ranking = rankQuery(acc, rows, n, first);
          if (lookups.mock.calls.length) pruned++;
          // the first batch, then growing ones until everything is out (the later ones run the whole computation)
          const got: { no: number; score: number }[] = [];
          for (let m = first; ranking.remaining > 0; m *= 5) got.push(...ranking.next(m));
          expect(got).toEqual(want);
          expect(ranking.next(3)).toEqual([]);
        }
      }
    }
    // the pruned path ran in most cases (else this test would not test it)
    expect(pruned).toBeGreaterThan(cases / 3);
  });

  it('the first batch alone needs no whole computation: it matches the whole ranking’s first batch', () => {
    const acc = new ScoreAccumulator();
    for (let round = 0; round < 20; round++) {
      const rows = queryRows(1, 3, 100_000);
      const want = rankQuery(acc, rows, 100_000, Infinity).next(58);
      expect(rankQuery(acc, rows, 100_000, 58).next(58)).toEqual(want);
    }
  });
});

describe('ScoreAccumulator.takeBest', () => {
  it('hands out the m best as the whole ranking does (ties by no), without the rest, and clears the accumulator', () => {
    const acc = new ScoreAccumulator();
    for (const [count, m] of [[5000, 58], [5000, 1], [40, 58], [3000, 200]]) {
      const nos = [...new Set(Array.from({ length: count }, () => Math.floor(rnd() * 20_000)))].sort((a, b) => a - b);
      // few distinct impacts: many ties
      const postings = decodePostings(pack(nos.map((no) => [no, Math.fround((1 + Math.floor(rnd() * 4)) / 4)] as [number, number])));
      acc.add(postings, 1.5);
      const want = acc.take().next(m);
      acc.add(postings, 1.5);
      const best = acc.takeBest(m);
      expect(best.remaining).toBe(Math.min(m, nos.length));
      expect(best.next(m)).toEqual(want);
      expect(acc.size).toBe(0);
    }
  });
});

describe('Ranking', () => {
  it('hands out chunks in score order (ties by no), batch by batch, each exactly once', () => {
    const n = 3000;
    const nos = Int32Array.from({ length: n }, (_, i) => i * 3 + 1);
    // few distinct scores: many ties
    const scores = Float64Array.from({ length: n }, () => Math.floor(rnd() * 50) / 7);
    const want = [...nos.keys()].sort((a, b) => scores[b] - scores[a] || nos[a] - nos[b]).map((i) => nos[i]);
    // a first batch of 1, of a search's k + 8, of a quarter (picked in one pass), and of more (from the heap)
    for (const first of [1, 58, 749, 750, 2000]) {
      const ranking = new Ranking(nos, scores);
      const got: number[] = [];
      for (let m = first; ranking.remaining > 0; m *= 3) got.push(...ranking.next(m).map((x) => x.no));
      expect(got).toEqual(want);
      expect(ranking.next(5)).toEqual([]);
    }
    expect(new Ranking(new Int32Array(0), new Float64Array(0)).next(3)).toEqual([]);
  });
});

describe('PostingsCache', () => {
  const postings = (n: number) => decodePostings(pack(Array.from({ length: n }, (_, i) => [i, 1] as [number, number])));

  it('hands back postings only for the row version they were read from', () => {
    const cache = new PostingsCache(1 << 20);
    const p = postings(10);
    cache.put('bau', '3', '901', p);
    expect(cache.get('bau', '3', '901')).toBe(p);
    expect(cache.get('bau', '4', '901')).toBeUndefined();
    // the row was rewritten (new xmin): a miss, and the stale entry is gone
    expect(cache.get('bau', '3', '955')).toBeUndefined();
    expect(cache.get('bau', '3', '901')).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.usedBytes).toBe(0);
  });

  it('stays within its byte budget, evicting the least recently used first', () => {
    const one = postings(1000).nos.byteLength * 2; // bytes of one entry's arrays
    const cache = new PostingsCache(3.5 * one + 3 * 200);
    for (const t of ['a', 'b', 'c']) cache.put(t, '1', 'v', postings(1000));
    expect(cache.get('a', '1', 'v')).toBeDefined(); // a is now the most recently used
    cache.put('d', '1', 'v', postings(1000));
    expect(cache.usedBytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(cache.get('b', '1', 'v')).toBeUndefined();
    for (const t of ['a', 'c', 'd']) expect(cache.get(t, '1', 'v')).toBeDefined();
    cache.put('huge', '1', 'v', postings(10_000)); // larger than the whole budget: not kept
    expect(cache.get('huge', '1', 'v')).toBeUndefined();
    // a smaller budget (segments held whole took some) drops the least recently used beyond it: a, then c
    cache.resize(1.5 * one + 200);
    expect(cache.usedBytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(cache.get('a', '1', 'v')).toBeUndefined();
    expect(cache.get('c', '1', 'v')).toBeUndefined();
    expect(cache.get('d', '1', 'v')).toBeDefined();
  });

  it('decodes the packed big-endian pairs in order', () => {
    const pairs: [number, number][] = [[3, 0.5], [70_000, 1.25], [2 ** 30, 2]];
    const { nos, impacts } = decodePostings(pack(pairs));
    expect([...nos]).toEqual(pairs.map((p) => p[0]));
    expect([...impacts]).toEqual(pairs.map((p) => p[1]));
  });
});

describe('WholeSegment', () => {
  it('gives each term its postings as decoded alone, and is complete once every term and posting it was made for is in', () => {
    const lists: Record<string, [number, number][]> = {
      a: [[1, 0.5], [4, 1.25], [9, 0.75]],
      b: [[2, 2]],
      c: [[1, 0.25], [3, 0.5]],
    };
    const whole = new WholeSegment('v1', 3, 6);
    expect(whole.complete).toBe(false);
    for (const term of ['b', 'c', 'a']) expect(whole.add(term, pack(lists[term]))).toBe(true);
    expect(whole.complete).toBe(true);
    for (const [term, pairs] of Object.entries(lists)) expect(whole.get(term)).toEqual(decodePostings(pack(pairs)));
    expect(whole.get('d')).toBeUndefined();
    expect(whole.version).toBe('v1');
    expect(whole.bytes).toBe(WholeSegment.bytesFor(3, 6));
  });

  it('refuses a term twice, and more terms or postings than it was made for', () => {
    const whole = new WholeSegment('v1', 2, 3);
    expect(whole.add('a', pack([[1, 1], [2, 1]]))).toBe(true);
    expect(whole.add('a', pack([[3, 1]]))).toBe(false);
    expect(whole.add('b', pack([[3, 1], [4, 1]]))).toBe(false); // 4 postings
    expect(whole.add('b', pack([[3, 1]]))).toBe(true);
    expect(whole.add('c', pack([]))).toBe(false); // a third term
    expect(whole.complete).toBe(true);
  });
});

describe('ChunkIdsByNo', () => {
  it('keeps the most recently used ids within its bound', () => {
    const ids = new ChunkIdsByNo(2);
    ids.set(1, 'a#0');
    ids.set(2, 'b#0');
    expect(ids.get(1)).toBe('a#0'); // 1 is now newer than 2
    ids.set(3, 'c#0');
    expect(ids.size).toBe(2);
    expect(ids.get(2)).toBeUndefined();
    expect([ids.get(1), ids.get(3)]).toEqual(['a#0', 'c#0']);
    const none = new ChunkIdsByNo(0);
    none.set(1, 'a#0');
    expect(none.get(1)).toBeUndefined();
  });

  it('counts a use while at most half full as the time the id came in', () => {
    const ids = new ChunkIdsByNo(4);
    ids.set(1, 'a#0');
    ids.set(2, 'b#0');
    expect(ids.get(1)).toBe('a#0'); // half full: 1 stays the oldest
    ids.set(3, 'c#0');
    expect(ids.get(2)).toBe('b#0'); // more than half full: 2 becomes the newest
    ids.set(4, 'd#0');
    ids.set(5, 'e#0');
    ids.set(6, 'f#0');
    expect([1, 2, 3, 4, 5, 6].map((no) => ids.get(no))).toEqual([undefined, 'b#0', undefined, 'd#0', 'e#0', 'f#0']);
  });
});

describe('segmentsToMerge (tiered merging of small segments)', () => {
  const segs = (sizes: number[], from = 1) => sizes.map((chunk_count, i) => ({ id: String(from + i), chunk_count }));

  it('waits until one size tier holds MERGE_FACTOR segments, then merges exactly that tier, the smallest first', () => {
    expect(segmentsToMerge(segs(Array(MERGE_FACTOR - 1).fill(1)))).toEqual([]);
    const ones = segs(Array(MERGE_FACTOR).fill(3));
    expect(segmentsToMerge(ones)).toEqual(ones.map((s) => s.id));
    // 1–9 and 10–99 are different tiers; with both full, the smaller goes first
    const tens = segs(Array(MERGE_FACTOR).fill(40), 100);
    expect(segmentsToMerge([...tens, ...ones])).toEqual(ones.map((s) => s.id));
    expect(segmentsToMerge([...tens, ...ones.slice(1)])).toEqual(tens.map((s) => s.id));
    // a mixed bag of sizes in one tier is still one tier
    expect(segmentsToMerge(segs([10, 99, 50, 12, 70, 10, 11, 98, 60, 30]))).toHaveLength(10);
  });

  it('merges the smallest segments of a full tier up to MAX_MERGED_CHUNKS, the rest of the tier later', () => {
    // ten batches of 1,000 chunks (a bulk load) become one segment of 10,000
    const batches = segs(Array(MERGE_FACTOR).fill(1000));
    expect(segmentsToMerge(batches)).toEqual(batches.map((s) => s.id));
    // ten of 6,000 to 9,000: as many of the smallest as fit
    const big = segs([9000, 6000, 8000, 7000, 9000, 6500, 9999, 6000, 8500, 7500]);
    const ids = segmentsToMerge(big);
    const sizes = ids.map((id) => big.find((s) => s.id === id)!.chunk_count);
    expect(sizes).toEqual([6000, 6000, 6500]);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(MAX_MERGED_CHUNKS);
    // a tier that grew beyond MERGE_FACTOR (segments of a store that merged less) is merged MERGE_FACTOR at a time
    expect(segmentsToMerge(segs(Array(3 * MERGE_FACTOR).fill(1000)))).toEqual(batches.map((s) => s.id));
    // the two largest possible still merge
    expect(segmentsToMerge(segs(Array(MERGE_FACTOR).fill(MERGE_BELOW_CHUNKS - 1)))).toHaveLength(2);
  });

  it('never merges segments of MERGE_BELOW_CHUNKS chunks or more', () => {
    expect(segmentsToMerge(segs(Array(50).fill(MERGE_BELOW_CHUNKS)))).toEqual([]);
    expect(segmentsToMerge(segs([...Array(MERGE_FACTOR - 1).fill(MERGE_BELOW_CHUNKS - 1), MERGE_BELOW_CHUNKS]))).toEqual([]);
  });

  it('single-document ingestion keeps at most MERGE_FACTOR − 1 small segments per tier', () => {
    // 5,000 requests of 1–3 chunks: about 10,000 chunks, through all four tiers
    let segments: { id: string; chunk_count: number }[] = [];
    let next = 1;
    let merges = 0;
    let ingested = 0;
    for (let request = 0; request < 5000; request++) {
      segments.push({ id: String(next++), chunk_count: 1 + (request % 3) });
      ingested += 1 + (request % 3);
      for (let ids = segmentsToMerge(segments); ids.length; ids = segmentsToMerge(segments)) {
        const chunk_count = segments.filter((s) => ids.includes(s.id)).reduce((n, s) => n + s.chunk_count, 0);
        segments = [...segments.filter((s) => !ids.includes(s.id)), { id: String(next++), chunk_count }];
        merges++;
      }
    }
    expect(segments.reduce((n, s) => n + s.chunk_count, 0)).toBe(ingested);
    const small = segments.filter((s) => s.chunk_count < MERGE_BELOW_CHUNKS);
    const tiers = Math.log10(MERGE_BELOW_CHUNKS);
    expect(small.length).toBeLessThanOrEqual(tiers * (MERGE_FACTOR - 1));
    expect(segments.length).toBeLessThan(tiers * MERGE_FACTOR);
    // each chunk is rewritten about once per tier it passes through, not once per request
    expect(merges).toBeLessThan(5000 / (MERGE_FACTOR - 1));
  });
});
