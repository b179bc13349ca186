/**
 * BM25 keyword index kept in PostgreSQL (tables ds_kw_segments, ds_kw_postings; see migrations.ts).
 *
 * PostgreSQL full-text search still analyses the text (each chunk's `tsv`); ranking no longer reads the
 * tsvectors: every ingest batch is one segment whose postings (per term: chunk `no` + precomputed BM25 term
 * impact, packed big-endian int4 + float4) are built in SQL from the chunks' tsvectors. A query fetches the
 * postings rows of its lexemes, and scoring is done here: score(chunk) = Σ_terms idf(term) · impact(term, chunk),
 * exact over the whole index.
 */

/** BM25 parameters (the usual defaults). */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;
/** Bytes per posting: int4 chunk no + float4 impact. */
export const POSTING_BYTES = 8;
/**
 * Postings of at most this many chunks are read with every search that needs them, in its first statement, instead
 * of being cached: 1,920 bytes, which stays in the row itself (PostgreSQL moves a row's values out beyond about 2 kB).
 */
export const SHORT_POSTINGS = 240;

/** BM25 idf (the non-negative Lucene form): ln(1 + (N − df + 0.5) / (df + 0.5)). */
export function bm25Idf(n: number, df: number): number {
  return Math.log(1 + (n - df + 0.5) / (df + 0.5));
}

/**
 * BM25 term impact for term frequency `tf` in a chunk of length `dl`, given the average length `avgdl`.
 * `tf` counts title positions (weight 'A') twice, `dl` is the sum of those counts over the chunk.
 */
export function bm25Impact(tf: number, dl: number, avgdl: number, k1 = BM25_K1, b = BM25_B): number {
  return (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * dl) / avgdl));
}

/** One term's postings in one segment, decoded: chunk `no`s ascending and their BM25 term impacts. */
export interface Postings {
  nos: Int32Array;
  impacts: Float32Array;
  /** The largest of `impacts` (0 when empty): bounds what the term adds to any chunk. */
  maxImpact: number;
}

/** Decodes packed postings (big-endian int4 no + float4 impact, as built in SQL) into typed arrays. */
export function decodePostings(packed: Uint8Array): Postings {
  const count = Math.floor(packed.byteLength / POSTING_BYTES);
  const nos = new Int32Array(count);
  const impacts = new Float32Array(count);
  const maxImpact = decodePostingsInto(packed, nos, impacts, 0);
  return { nos, impacts, maxImpact };
}

/** Decodes packed postings into `nos` and `impacts` from index `at` on (they must have room); returns the largest impact. */
function decodePostingsInto(packed: Uint8Array, nos: Int32Array, impacts: Float32Array, at: number): number {
  const count = Math.floor(packed.byteLength / POSTING_BYTES);
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let maxImpact = 0;
  for (let i = at, o = 0; i < at + count; i++, o += POSTING_BYTES) {
    nos[i] = view.getInt32(o);
    impacts[i] = view.getFloat32(o + 4);
    if (impacts[i] > maxImpact) maxImpact = impacts[i];
  }
  return maxImpact;
}

/** Postings of one term in one segment. */
export interface PostingsRow {
  term: string;
  df: number;
  postings: Postings;
}

/** One term's postings in one segment, as cached. */
interface CachedPostings {
  version: string;
  postings: Postings;
  bytes: number;
}

/** A term's cached segments; `bytes` counts them and the term's own overhead. */
interface CachedTerm {
  segments: Map<string, CachedPostings>;
  bytes: number;
}

/**
 * Decoded postings kept in memory between queries, per term and within it per segment, least recently used terms
 * first out beyond `maxBytes` (long postings only: a search reads short ones, and learns which segments have a
 * term, in its first statement). Each entry carries the version of the segment it was read from (the `xmin` of the
 * segment's ds_kw_segments row: a rebuild deletes and re-inserts that row and all the segment's postings in one
 * transaction), so a lookup with the version just listed by the database never returns stale postings, whichever
 * process rebuilt the segment. Keyed by term, then
 * segment (no composite string keys), and a term moves to the most recently used end once per run of lookups for
 * it: a search asks for each long term in every segment that has it.
 */
export class PostingsCache {
  private readonly terms = new Map<string, CachedTerm>();
  private newest: string | undefined;
  private bytes = 0;

  constructor(private limit: number) {}

  get maxBytes(): number {
    return this.limit;
  }

  /** Changes the budget (segments held whole take theirs from it), dropping least recently used terms beyond it. */
  resize(maxBytes: number): void {
    this.limit = maxBytes;
    for (const [k] of this.terms) {
      if (this.bytes <= this.limit) break;
      this.dropTerm(k);
    }
  }

  /** Cached (term, segment) entries. */
  get size(): number {
    let n = 0;
    for (const t of this.terms.values()) n += t.segments.size;
    return n;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  /** The postings of `term` in that version of the segment; `undefined` when not cached. */
  get(term: string, segment: string, version: string): Postings | undefined {
    const t = this.terms.get(term);
    const e = t?.segments.get(segment);
    if (!t || !e) return undefined;
    if (e.version !== version) {
      t.segments.delete(segment);
      t.bytes -= e.bytes;
      this.bytes -= e.bytes;
      if (!t.segments.size) this.dropTerm(term);
      return undefined;
    }
    this.touch(term, t);
    return e.postings;
  }

  put(term: string, segment: string, version: string, postings: Postings): void {
    const bytes = postings.nos.byteLength + postings.impacts.byteLength + 64 + segment.length * 2;
    if (bytes > this.limit) return;
    let t = this.terms.get(term);
    if (t) {
      this.touch(term, t);
    } else {
      this.terms.set(term, (t = { segments: new Map(), bytes: 64 + term.length * 2 }));
      this.bytes += t.bytes;
      this.newest = term;
    }
    const old = t.segments.get(segment);
    if (old) {
      t.bytes -= old.bytes;
      this.bytes -= old.bytes;
    }
    t.segments.set(segment, { version, postings, bytes });
    t.bytes += bytes;
    this.bytes += bytes;
    this.resize(this.limit);
  }

  /** Moves the term to the most recently used end (Map order), unless it is there already. */
  private touch(term: string, t: CachedTerm): void {
    if (this.newest === term) return;
    this.terms.delete(term);
    this.terms.set(term, t);
    this.newest = term;
  }

  private dropTerm(term: string): void {
    const t = this.terms.get(term);
    if (!t) return;
    this.terms.delete(term);
    this.bytes -= t.bytes;
    if (this.newest === term) this.newest = undefined;
  }
}

/**
 * Every postings row of one segment at one version, held in memory so that searches read none of its rows: all its
 * postings in two arrays (a typed array per term would cost more than the postings of most terms), found by term.
 */
export class WholeSegment {
  private readonly index = new Map<string, number>();
  private readonly starts: Int32Array;
  private readonly max: Float64Array;
  private readonly nos: Int32Array;
  private readonly impacts: Float32Array;
  private filled = 0;

  /** Room for `terms` terms with `postings` postings in all, added by `add` in any order. */
  constructor(
    readonly version: string,
    terms: number,
    postings: number,
  ) {
    this.starts = new Int32Array(terms + 1);
    this.max = new Float64Array(terms);
    this.nos = new Int32Array(postings);
    this.impacts = new Float32Array(postings);
  }

  /** Rough heap cost of a segment held whole: the arrays, and about 80 bytes a term (its string, its index entry). */
  static bytesFor(terms: number, postings: number): number {
    return postings * POSTING_BYTES + (terms + 1) * 4 + terms * 8 + terms * 80;
  }

  get bytes(): number {
    return WholeSegment.bytesFor(this.max.length, this.nos.length);
  }

  /** Whether every term and posting it was made for has been added. */
  get complete(): boolean {
    return this.index.size === this.max.length && this.filled === this.nos.length;
  }

  /** Adds a term's packed postings (as built in SQL); false when they do not fit what the segment was made for. */
  add(term: string, packed: Uint8Array): boolean {
    const count = Math.floor(packed.byteLength / POSTING_BYTES);
    const i = this.index.size;
    if (i === this.max.length || this.filled + count > this.nos.length || this.index.has(term)) return false;
    this.max[i] = decodePostingsInto(packed, this.nos, this.impacts, this.filled);
    this.index.set(term, i);
    this.starts[i] = this.filled;
    this.filled += count;
    this.starts[i + 1] = this.filled;
    return true;
  }

  /** The term's postings in this segment; `undefined` when the segment has no chunk with the term. */
  get(term: string): Postings | undefined {
    const i = this.index.get(term);
    if (i === undefined) return undefined;
    return { nos: this.nos.subarray(this.starts[i], this.starts[i + 1]), impacts: this.impacts.subarray(this.starts[i], this.starts[i + 1]), maxImpact: this.max[i] };
  }
}

/**
 * Chunk ids by keyword-index number, kept between searches, least recently used out beyond `maxEntries`. A chunk's
 * number comes from a sequence and is never reused (a replaced chunk is a new row with a new number), so an entry
 * stays true for as long as its chunk exists.
 */
export class ChunkIdsByNo {
  private readonly ids = new Map<number, string>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.ids.size;
  }

  get(no: number): string | undefined {
    const id = this.ids.get(no);
    // Marked most recently used (moved to the end of the Map's order) only once the map is more than half full:
    // until then nothing is near eviction, and the move cost a search about 15 us for its 58 ids (100,000 chunks).
    if (id !== undefined && this.ids.size > this.maxEntries / 2) {
      this.ids.delete(no);
      this.ids.set(no, id);
    }
    return id;
  }

  set(no: number, id: string): void {
    this.ids.delete(no);
    if (this.maxEntries < 1) return;
    this.ids.set(no, id);
    if (this.ids.size > this.maxEntries) this.ids.delete(this.ids.keys().next().value!);
  }
}

/**
 * Sums idf · impact per chunk `no`. Scores live in a dense Float64Array indexed by `no` (grown on demand) with
 * the list of touched slots, so adding is one array access, and `take` (or `takeOnly`) resets only the touched
 * slots; one instance is reused across queries (use it synchronously: accumulate then take, no await in between).
 * Weights (idf) and impacts are positive, so a chunk has been touched exactly when its score is not 0.
 */
export class ScoreAccumulator {
  private scores = new Float64Array(1024);
  private heap = new Float64Array(0);
  /** Room for every slot of `scores`: a chunk is listed at most once. */
  private touched = new Int32Array(1024);
  private count = 0;
  /** One bit per score slot, all clear between calls (see `above`). */
  private bits = new Int32Array(1024 / 32);

  add({ nos, impacts }: Postings, weight: number): void {
    if (!(weight > 0)) throw new RangeError(`ScoreAccumulator weights must be positive, got ${weight}`);
    if (!nos.length) return;
    // nos ascend, so the last is the largest
    if (nos[nos.length - 1] >= this.scores.length) this.grow(nos[nos.length - 1]);
    const scores = this.scores;
    const touched = this.touched;
    let count = this.count;
    for (let i = 0; i < nos.length; i++) {
      const no = nos[i];
      const score = scores[no];
      if (score === 0) touched[count++] = no;
      scores[no] = score + weight * impacts[i];
    }
    this.count = count;
  }

  /** Chunks scored so far. */
  get size(): number {
    return this.count;
  }

  /** The m-th best score so far (m ≤ size), by a bounded min-heap over the scored chunks. */
  mthBest(m: number): number {
    return this.mthBestAmong(this.touched.subarray(0, this.count), m);
  }

  /** The m-th best score among the given scored chunks (m ≤ their number), by a bounded min-heap. */
  mthBestAmong(chunks: Int32Array, m: number): number {
    // kept between calls (a search asks once per term left): less garbage to collect in the middle of searches
    if (this.heap.length !== m) this.heap = new Float64Array(m);
    const heap = this.heap;
    let size = 0;
    for (let i = 0; i < chunks.length; i++) {
      const score = this.scores[chunks[i]];
      if (size < m) {
        let c = size++;
        heap[c] = score;
        while (c > 0 && heap[(c - 1) >> 1] > heap[c]) {
          const p = (c - 1) >> 1;
          const t = heap[p];
          heap[p] = heap[c];
          heap[c] = t;
          c = p;
        }
      } else if (score > heap[0]) {
        heap[0] = score;
        for (let c = 0; ; ) {
          const l = 2 * c + 1;
          if (l >= m) break;
          const w = l + 1 < m && heap[l + 1] < heap[l] ? l + 1 : l;
          if (heap[c] <= heap[w]) break;
          const t = heap[c];
          heap[c] = heap[w];
          heap[w] = t;
          c = w;
        }
      }
    }
    return heap[0];
  }

  /** The given chunks (ascending) whose score is at least `floor`, kept in order in the front of `chunks` itself. */
  keepAtLeast(chunks: Int32Array, floor: number): Int32Array {
    let kept = 0;
    for (let i = 0; i < chunks.length; i++) if (this.scores[chunks[i]] >= floor) chunks[kept++] = chunks[i];
    return chunks.subarray(0, kept);
  }

  /** The scored chunks whose score is at least `floor`, ascending by no. */
  above(floor: number): Int32Array {
    // marked in a bitmap over the score slots and read back in order: cheaper than sorting tens of thousands
    const bits = this.bits;
    const scores = this.scores;
    const touched = this.touched;
    let size = 0;
    for (let i = 0; i < this.count; i++) {
      const no = touched[i];
      if (scores[no] >= floor) {
        bits[no >>> 5] |= 1 << (no & 31);
        size++;
      }
    }
    const out = new Int32Array(size);
    for (let w = 0, k = 0; k < size; w++) {
      let word = bits[w];
      if (word === 0) continue;
      bits[w] = 0;
      while (word !== 0) {
        const low = word & -word;
        out[k++] = (w << 5) + 31 - Math.clz32(low);
        word ^= low;
      }
    }
    return out;
  }

  /**
   * Adds `weight · impact` of `postings` to the given chunks only (ascending nos, all scored already), finding each
   * in the postings by galloping: about |chunks| · log(|postings| / |chunks|) steps instead of one per posting.
   */
  addTo(chunks: Int32Array, { nos, impacts }: Postings, weight: number): void {
    if (!nos.length) return;
    const scores = this.scores;
    // only the chunks within the postings' range (a segment's postings cover its own range of numbers)
    let i = 0;
    for (let hi = chunks.length; i < hi; ) {
      const mid = (i + hi) >> 1;
      if (chunks[mid] < nos[0]) i = mid + 1;
      else hi = mid;
    }
    const last = nos[nos.length - 1];
    let at = 0;
    for (; i < chunks.length && chunks[i] <= last; i++) {
      const no = chunks[i];
      if (nos[at] < no) {
        // gallop to a bound, then binary search: the first posting ≥ no
        let step = 1;
        let hi = at + 1;
        while (hi < nos.length && nos[hi] < no) {
          at = hi;
          step *= 2;
          hi = at + step;
        }
        let lo = at + 1;
        hi = Math.min(hi, nos.length);
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (nos[mid] < no) lo = mid + 1;
          else hi = mid;
        }
        at = lo;
      }
      if (at < nos.length && nos[at] === no) scores[no] += weight * impacts[at];
    }
  }

  /** The given chunks with their scores as a {@link Ranking}; clears the accumulator for the next query. */
  takeOnly(chunks: Int32Array): Ranking {
    const scores = new Float64Array(chunks.length);
    for (let i = 0; i < chunks.length; i++) scores[i] = this.scores[chunks[i]];
    this.clear();
    return new Ranking(chunks, scores);
  }

  private clear(): void {
    for (let i = 0; i < this.count; i++) {
      const no = this.touched[i];
      this.scores[no] = 0;
    }
    this.count = 0;
  }

  /** The scored chunks (unordered) as a {@link Ranking}; clears the accumulator for the next query. */
  take(): Ranking {
    return this.takeOnly(this.touched.slice(0, this.count));
  }

  /**
   * The m best scored chunks (score descending, then no ascending) as a {@link Ranking}, picked with a bounded heap
   * without copying the others out; clears the accumulator for the next query.
   */
  takeBest(m: number): Ranking {
    const scores = this.scores;
    const touched = this.touched;
    const size = Math.min(m, this.count);
    // min-heap of the best so far, the worst (lowest score, then highest no) at the root
    const heap = new Int32Array(size);
    const worse = (a: number, b: number) => scores[a] < scores[b] || (scores[a] === scores[b] && a > b);
    for (let i = 0; i < this.count; i++) {
      const no = touched[i];
      if (i < size) {
        let c = i;
        heap[c] = no;
        while (c > 0 && worse(heap[c], heap[(c - 1) >> 1])) {
          const p = (c - 1) >> 1;
          const t = heap[p];
          heap[p] = heap[c];
          heap[c] = t;
          c = p;
        }
      } else if (worse(heap[0], no)) {
        heap[0] = no;
        for (let c = 0; ; ) {
          const l = 2 * c + 1;
          if (l >= size) break;
          const w = l + 1 < size && worse(heap[l + 1], heap[l]) ? l + 1 : l;
          if (!worse(heap[w], heap[c])) break;
          const t = heap[c];
          heap[c] = heap[w];
          heap[w] = t;
          c = w;
        }
      }
    }
    return this.takeOnly(heap);
  }

  private grow(no: number): void {
    let size = this.scores.length;
    while (size <= no) size *= 2;
    const s = new Float64Array(size);
    s.set(this.scores);
    this.scores = s;
    const touched = new Int32Array(size);
    touched.set(this.touched.subarray(0, this.count));
    this.touched = touched;
    this.bits = new Int32Array(size / 32);
  }
}

/**
 * Scored chunks handed out best first (score descending, then `no` ascending), in batches. A search usually needs
 * only its first batch (k + a few) of the tens of thousands of chunks a common term touches: that batch is picked
 * in one pass with a bounded heap of its size. Only a later batch (a filter rejected chunks) builds the binary
 * max-heap over the rest (O(n)), from which each `next(m)` pops m.
 */
export class Ranking {
  private heap: Int32Array | null = null;
  private size = 0;
  private handedOut = 0;
  /** Indices handed out by the first batch, when it was picked without the heap. */
  private taken: Int32Array | null = null;

  constructor(
    readonly nos: Int32Array,
    readonly scores: Float64Array,
  ) {}

  get remaining(): number {
    return this.nos.length - this.handedOut;
  }

  /** The next (up to) m best chunks as [no, score] pairs. */
  next(m: number): { no: number; score: number }[] {
    if (!this.heap && this.handedOut === 0 && m > 0 && m * 4 < this.nos.length) return this.firstBatch(m);
    if (!this.heap) this.buildHeap();
    const out: { no: number; score: number }[] = [];
    while (out.length < m && this.size > 0) {
      const top = this.heap![0];
      out.push({ no: this.nos[top], score: this.scores[top] });
      this.heap![0] = this.heap![--this.size];
      this.down(0);
    }
    this.handedOut += out.length;
    return out;
  }

  /** The m best in one pass: `best` is a min-heap (worst of the m at the root) of size m. */
  private firstBatch(m: number): { no: number; score: number }[] {
    const best = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      best[i] = i;
      for (let c = i; c > 0; ) {
        const parent = (c - 1) >> 1;
        if (!this.better(best[parent], best[c])) break;
        const t = best[parent];
        best[parent] = best[c];
        best[c] = t;
        c = parent;
      }
    }
    const scores = this.scores;
    for (let i = m; i < this.nos.length; i++) {
      const worst = best[0];
      // most chunks score below the m-th best: one comparison and on
      if (scores[i] < scores[worst] || (scores[i] === scores[worst] && this.nos[i] > this.nos[worst])) continue;
      best[0] = i;
      for (let c = 0; ; ) {
        const l = 2 * c + 1;
        if (l >= m) break;
        const r = l + 1;
        const w = r < m && this.better(best[l], best[r]) ? r : l;
        if (!this.better(best[c], best[w])) break;
        const t = best[c];
        best[c] = best[w];
        best[w] = t;
        c = w;
      }
    }
    const picked = [...best].sort((a, b) => (this.better(a, b) ? -1 : 1));
    // most searches never ask for a second batch: the heap of the rest leaves these out only if one does
    this.taken = Int32Array.from(picked);
    this.handedOut = m;
    return picked.map((i) => ({ no: this.nos[i], score: this.scores[i] }));
  }

  private buildHeap(): void {
    const heap = new Int32Array(this.nos.length - this.handedOut);
    let size = 0;
    const taken = new Uint8Array(this.nos.length);
    for (const i of this.taken ?? []) taken[i] = 1;
    for (let i = 0; i < this.nos.length; i++) if (!taken[i]) heap[size++] = i;
    this.heap = heap;
    this.size = size;
    for (let i = (size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** a ranks before b */
  private better(a: number, b: number): boolean {
    const sa = this.scores[a];
    const sb = this.scores[b];
    return sa > sb || (sa === sb && this.nos[a] < this.nos[b]);
  }

  private down(i: number): void {
    const h = this.heap!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) return;
      const r = l + 1;
      const c = r < this.size && this.better(h[r], h[l]) ? r : l;
      if (!this.better(h[c], h[i])) return;
      const t = h[i];
      h[i] = h[c];
      h[c] = t;
      i = c;
    }
  }
}

/** Chunks best first, handed out in batches (a {@link Ranking}, or one that prunes: see {@link rankQuery}). */
export interface ChunkRanking {
  /** How many chunks are left to hand out (0 only when none is). */
  readonly remaining: number;
  next(m: number): { no: number; score: number }[];
}

/**
 * The query's chunks ranked by BM25 (Σ over terms of idf · impact), exact, with max-score pruning for the first
 * `firstBatch`: terms are added best bound first (bound = idf × the term's largest impact), and once the
 * `firstBatch`-th best score so far beats the sum of the bounds left, no chunk without a score yet can reach the
 * first batch. The terms left (common words: long postings, low bounds) are then only looked up for the chunks
 * that can still reach it, instead of read whole. The first batch, and every chunk scoring above that `firstBatch`-th
 * score, come out as the full computation would rank them; asking beyond those runs the full computation (the
 * same terms in the same order, so the same sums to the last bit) and goes on from there.
 */
export function rankQuery(acc: ScoreAccumulator, rows: PostingsRow[], n: number, firstBatch: number): ChunkRanking {
  const byTerm = new Map<string, { term: string; df: number; lists: Postings[] }>();
  for (const r of rows) {
    const t = byTerm.get(r.term);
    if (t) {
      t.df += Number(r.df);
      t.lists.push(r.postings);
    } else byTerm.set(r.term, { term: r.term, df: Number(r.df), lists: [r.postings] });
  }
  const terms = [...byTerm.values()]
    .map((t) => {
      const idf = bm25Idf(n, t.df);
      const max = Math.max(0, ...t.lists.map((l) => l.maxImpact));
      return { ...t, idf, bound: idf * max, length: t.lists.reduce((sum, l) => sum + l.nos.length, 0) };
    })
    .sort((a, b) => b.bound - a.bound || (a.term < b.term ? -1 : 1));
  const full = () => {
    for (const t of terms) for (const l of t.lists) acc.add(l, t.idf);
    return acc.take();
  };
  // what the terms from j on can add at most, and how many postings they have
  const boundFrom = new Float64Array(terms.length + 1);
  const lengthFrom = new Float64Array(terms.length + 1);
  for (let j = terms.length - 1; j >= 0; j--) {
    boundFrom[j] = boundFrom[j + 1] + terms[j].bound;
    lengthFrom[j] = lengthFrom[j + 1] + terms[j].length;
  }
  for (let j = 0; j < terms.length; j++) {
    // worth a look when the terms left are long against what is scored (finding the m-th best reads all of that)
    if (j > 0 && acc.size >= firstBatch && lengthFrom[j] >= 2 * acc.size) {
      const threshold = acc.mthBest(firstBatch);
      // what the terms left can add, with a hair of margin: the bounds are sums in floating point too
      const left = boundFrom[j] * (1 + 1e-9);
      if (threshold > left) {
        // chunks that can still reach the threshold: their score so far plus everything the terms left can add
        let open = acc.above(threshold - left);
        let floor = threshold;
        for (let i = j; i < terms.length; i++) {
          for (const l of terms[i].lists) acc.addTo(open, l, terms[i].idf);
          if (i + 1 === terms.length) break;
          // Scores grew and less is left to add: the m-th best open chunk so far is a floor no final first-batch
          // score is below (scores only grow), and a chunk that cannot reach it with the rest leaves the open set
          // (most do: the next term is looked up for far fewer chunks).
          if (open.length >= firstBatch) floor = Math.max(floor, acc.mthBestAmong(open, firstBatch));
          const rest = boundFrom[i + 1] * (1 + 1e-9);
          open = acc.keepAtLeast(open, floor - rest);
        }
        // every other chunk scores below the floor; these are exact
        const sure = acc.keepAtLeast(open, floor);
        // the whole computation only if more is asked for (synchronous, as the accumulator is shared)
        return new PrunedRanking(acc.takeOnly(sure), full);
      }
    }
    for (const l of terms[j].lists) acc.add(l, terms[j].idf);
  }
  // Nothing pruned: the first batch straight from the accumulator, without copying out every scored chunk (tens of
  // thousands for common words, garbage by the next search); the whole computation again only if more is asked for.
  return acc.size > 4 * firstBatch ? new PrunedRanking(acc.takeBest(firstBatch), full) : acc.take();
}

/** A first part known exact, then the whole ranking computed when more is asked for (see {@link rankQuery}). */
class PrunedRanking implements ChunkRanking {
  private all: Ranking | undefined;
  private handedOut = 0;

  constructor(
    private readonly sure: Ranking,
    private readonly whole: () => Ranking,
  ) {}

  get remaining(): number {
    return this.sure.remaining > 0 ? this.sure.remaining : this.rest().remaining;
  }

  next(m: number): { no: number; score: number }[] {
    const out = this.sure.next(m);
    this.handedOut += out.length;
    if (out.length < m) {
      const more = this.rest().next(m - out.length);
      this.handedOut += more.length;
      out.push(...more);
    }
    return out;
  }

  private rest(): Ranking {
    if (!this.all) {
      this.all = this.whole();
      this.all.next(this.handedOut); // the same chunks in the same order as the sure part handed out
    }
    return this.all;
  }
}

/** An EntityManager or a QueryRunner (migrations). */
export interface Queryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * (Re)builds the keyword index of the given segments from their chunks as they are now, inside the caller's
 * transaction: drops the segments' postings and stats, then one INSERT … SELECT computes per chunk and lexeme
 * tf (positions, title positions twice), dl (Σ tf), the segments' stats, avgdl over the whole index including
 * these segments, and per term and segment the packed postings (ordered by chunk no). Used for a new ingest
 * batch and for segments that lost chunks (delete, replace). Segments left without chunks disappear.
 */
export async function buildKeywordSegments(em: Queryable, segments: (number | string)[]): Promise<void> {
  const ids = [...new Set(segments.map(String))].sort((a, b) => Number(a) - Number(b));
  if (!ids.length) return;
  await lockSegments(em, ids);
  await em.query(`DELETE FROM ds_kw_postings WHERE segment = ANY($1::bigint[])`, [ids]);
  await em.query(`DELETE FROM ds_kw_segments WHERE id = ANY($1::bigint[])`, [ids]);
  await em.query(
    `WITH lex AS MATERIALIZED (
       SELECT c.kw_segment AS segment, c.no, u.lexeme,
         (coalesce(cardinality(u.positions), 1) + coalesce(cardinality(array_positions(u.weights, 'A')), 0))::float8 AS tf
       FROM ds_chunks c CROSS JOIN LATERAL unnest(c.tsv) u
       WHERE c.kw_segment = ANY($1::bigint[])),
     len AS (SELECT no, sum(tf) AS dl FROM lex GROUP BY no),
     seg AS (
       SELECT c.kw_segment AS id, count(*)::int AS chunk_count, coalesce(sum(len.dl), 0)::bigint AS total_len
       FROM ds_chunks c LEFT JOIN len ON len.no = c.no
       WHERE c.kw_segment = ANY($1::bigint[]) GROUP BY c.kw_segment),
     avg AS (
       SELECT (coalesce((SELECT sum(total_len) FROM ds_kw_segments), 0) + coalesce((SELECT sum(total_len) FROM seg), 0))::float8
         / greatest(coalesce((SELECT sum(chunk_count) FROM ds_kw_segments), 0) + coalesce((SELECT sum(chunk_count) FROM seg), 0), 1)
         AS avgdl),
     stats AS (
       INSERT INTO ds_kw_segments (id, chunk_count, total_len, avgdl) SELECT seg.id, seg.chunk_count, seg.total_len, avg.avgdl FROM seg, avg)
     INSERT INTO ds_kw_postings (term, segment, df, postings)
     SELECT l.lexeme, l.segment, count(*)::int,
       string_agg(int4send(l.no) || float4send((l.tf * ($2::float8 + 1) / (l.tf + $2::float8 * (1 - $3::float8 + $3::float8 * len.dl / avg.avgdl)))::float4),
         ''::bytea ORDER BY l.no)
     FROM lex l JOIN len ON len.no = l.no CROSS JOIN avg
     GROUP BY l.lexeme, l.segment`,
    [ids, BM25_K1, BM25_B],
  );
}

/**
 * Serialises work on the same segments (rebuilds, merges): a transaction-scoped lock per segment, taken in id
 * order. A transaction may take a lock it already holds.
 */
async function lockSegments(em: Queryable, ids: string[]): Promise<void> {
  await em.query(
    `SELECT pg_advisory_xact_lock(hashtext('ds_kw_segments'), (s.id % 2147483647)::int)
     FROM (SELECT id FROM unnest($1::bigint[]) AS u(id) ORDER BY id) s`,
    [ids],
  );
}

/** Segments with fewer chunks than this are merged (tiers 1–9, 10–99, 100–999 and 1,000–9,999 chunks). */
export const MERGE_BELOW_CHUNKS = 10_000;
/** How many segments of one size tier wait before they are merged. */
export const MERGE_FACTOR = 10;
/**
 * The most chunks one merge writes. A merge rebuilds the postings of its chunks in one statement (about 0.35 ms
 * per chunk in embedded PGlite, which serves nothing else meanwhile), so this bounds that pause to seconds.
 */
export const MAX_MERGED_CHUNKS = 20_000;

/**
 * Which segments to merge next, or none. Every ingestion request makes a segment, and a search reads every
 * segment's version and, for a query word it has not cached, one postings row per segment that has the word: at
 * 100,000 chunks in 1,000-chunk segments, that read took 1.4 ms per query (one random heap page per row) against
 * 0.5 ms from one segment. As in Lucene's tiered merging, segments below {@link MERGE_BELOW_CHUNKS} are grouped by
 * order of magnitude, and once the smallest such tier holds {@link MERGE_FACTOR} of them, its smallest segments are
 * merged into one of at most {@link MAX_MERGED_CHUNKS} chunks (MERGE_FACTOR of them when they fit). A chunk is
 * rewritten about once per tier it passes through, and at most MERGE_FACTOR − 1 segments per tier wait.
 */
export function segmentsToMerge(segments: { id: string; chunk_count: number }[]): string[] {
  const tiers = new Map<number, { id: string; chunk_count: number }[]>();
  for (const s of segments) {
    if (s.chunk_count >= MERGE_BELOW_CHUNKS) continue;
    const tier = Math.floor(Math.log10(Math.max(1, s.chunk_count)));
    const members = tiers.get(tier);
    if (members) members.push(s);
    else tiers.set(tier, [s]);
  }
  for (const tier of [...tiers.keys()].sort((a, b) => a - b)) {
    const members = tiers.get(tier)!;
    if (members.length < MERGE_FACTOR) continue;
    // MERGE_FACTOR of them, smallest first (two always fit: each is below MERGE_BELOW_CHUNKS, half the cap)
    const ids: string[] = [];
    let chunks = 0;
    for (const s of [...members].sort((a, b) => a.chunk_count - b.chunk_count)) {
      if (ids.length === MERGE_FACTOR || chunks + s.chunk_count > MAX_MERGED_CHUNKS) break;
      chunks += s.chunk_count;
      ids.push(s.id);
    }
    return ids;
  }
  return [];
}

/**
 * Merges small segments (see {@link segmentsToMerge}) until none are due, each merge in its own transaction: the
 * chunks of the merged segments move to a new segment, which is built from them, and the emptied segments
 * disappear. Searches see the old segments or the new one, never both (one commit). Returns how many merges ran.
 */
export async function mergeSmallSegments(db: { transaction<T>(work: (em: Queryable) => Promise<T>): Promise<T> }): Promise<number> {
  let merges = 0;
  for (;;) {
    const merged = await db.transaction(async (em) => {
      const segments = (await em.query(`SELECT id::text, chunk_count FROM ds_kw_segments`)) as { id: string; chunk_count: number }[];
      const ids = segmentsToMerge(segments);
      if (!ids.length) return false;
      await lockSegments(em, ids);
      const [{ segment }] = (await em.query(`SELECT nextval('ds_kw_segment_seq')::text AS segment`)) as { segment: string }[];
      // under the locks, with a new snapshot: a concurrent merge of the same segments has left them empty
      await em.query(`UPDATE ds_chunks SET kw_segment = $1 WHERE kw_segment = ANY($2::bigint[])`, [segment, ids]);
      await buildKeywordSegments(em, [...ids, segment]);
      return true;
    });
    if (!merged) return merges;
    merges++;
  }
}
