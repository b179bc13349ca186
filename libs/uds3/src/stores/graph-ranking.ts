/**
 * Exact top-k proximity ranking of chunks for a graph walk whose entity part is already known.
 *
 * A source is an entity node reached at distance `depth` from a seed; its chunk neighbours lie at `depth + 1`
 * from that seed. A chunk scores Σ over seeds of 1 / (its smallest distance from the seed). Enumerating every
 * chunk neighbour of every source is what made graph search slow (a law's citations reach a third of a
 * 100,000-chunk corpus at distance 3, each adding the same 1/3), so `rank` enumerates only the near layers, then
 * for the chunks that can still reach the top asks which deeper sources they touch, and falls back to the full
 * enumeration only when a chunk it has not seen could still make the top k.
 */
import type { ScoredId } from '../model.js';

/** Node-id prefix of chunk nodes; the rest of the id is the chunk id. */
export const CHUNK = 'chunk:';

/** Chunk node ids as small integers: `names[o]` is the id of ordinal `o` (the chunk-list cache's table). */
export interface NamesTable {
  readonly ordinals: Map<string, number>;
  readonly names: string[];
}

/**
 * Chunk end points of one source node: their ids, or their ordinals in a names table (lists from the chunk-list
 * cache come as they are kept, without an object or a string lookup per edge). A source may come more than once.
 */
export type SourceChunks = { src: string; chunks: readonly string[] } | { src: string; ordinals: ArrayLike<number>; table: NamesTable };

export interface GraphLinks {
  /** Edges from the given nodes to entity (non-chunk) nodes that are not hubs, with those nodes' degrees. */
  entityNeighbours(nodes: string[]): Promise<{ src: string; dst: string; degree: number }[]>;
  /** Every chunk end point of the given source nodes. */
  chunksOf(nodes: string[]): Promise<SourceChunks[]>;
  /** The chunk end points among `chunks` of the given sources; `nodeEdges` bounds the sources' edges. */
  linksBetween(chunks: string[], nodes: string[], nodeEdges: number): Promise<SourceChunks[]>;
}

/** (source → chunk) edges as rows, grouped by source in the order the sources first come. */
export function bySource(edges: readonly { src: string; dst: string }[]): SourceChunks[] {
  const out = new Map<string, string[]>();
  for (const { src, dst } of edges) {
    const list = out.get(src);
    if (list) list.push(dst);
    else out.set(src, [dst]);
  }
  return [...out].map(([src, chunks]) => ({ src, chunks }));
}

export type Sources = Map<string, { seed: number; depth: number }[]>;

/** Chunk edges read per query before deeper layers switch from enumeration to membership tests. */
export const ENUMERATION_BUDGET = 4000;

/**
 * The whole walk: `seeds` are the non-hub seed nodes with their degrees. Entity nodes are walked breadth-first
 * per seed (few); chunk end points are ranked by `rank`. `budget` and `firstBatch` (how many chunks the first
 * membership test takes; default 4 × limit, at least 64) change how much is read, never the result.
 */
export async function proximityTopK(
  seeds: { id: string; degree: number }[],
  hops: number,
  limit: number,
  links: GraphLinks,
  budget = ENUMERATION_BUDGET,
  firstBatch?: number,
): Promise<ScoredId[]> {
  if (!seeds.length || limit < 1) return [];
  const sources: Sources = new Map();
  const degree = new Map<string, number>();
  const visited = seeds.map((s) => new Set([s.id]));
  for (const [i, s] of seeds.entries()) {
    append(sources, s.id, { seed: i, depth: 0 });
    degree.set(s.id, s.degree);
  }
  let frontier = seeds.map((s, i) => ({ node: s.id, seed: i }));
  for (let depth = 1; depth < hops && frontier.length; depth++) {
    const out = new Map<string, { dst: string; degree: number }[]>();
    for (const r of await links.entityNeighbours([...new Set(frontier.map((f) => f.node))])) append(out, r.src, r);
    const next: typeof frontier = [];
    for (const f of frontier) {
      for (const r of out.get(f.node) ?? []) {
        if (visited[f.seed].has(r.dst)) continue;
        visited[f.seed].add(r.dst);
        degree.set(r.dst, r.degree);
        append(sources, r.dst, { seed: f.seed, depth });
        next.push({ node: r.dst, seed: f.seed });
      }
    }
    frontier = next;
  }
  return rank(seeds.length, sources, degree, limit, links, budget, firstBatch);
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

async function rank(
  seedCount: number,
  sources: Sources,
  degree: Map<string, number>,
  limit: number,
  links: GraphLinks,
  budget: number,
  firstBatch: number | undefined,
): Promise<ScoredId[]> {
  const nearest = new NearestDistances(seedCount);
  try {
    const reach = (found: SourceChunks[], only: (depth: number) => boolean) => {
      for (const group of found) {
        const from = sources.get(group.src)?.filter((s) => only(s.depth));
        if (!from?.length) continue;
        if ('ordinals' in group) {
          const { ordinals, table } = group;
          for (let i = 0; i < ordinals.length; i++) nearest.lower(nearest.slotOf(table, ordinals[i]), from);
        } else {
          for (const chunk of group.chunks) nearest.lower(nearest.slot(chunk), from);
        }
      }
    };
    // layer by layer while the chunk edges read stay within the budget (degree bounds a source's chunk edges)
    const layers = new Map<number, string[]>();
    for (const [node, list] of sources) append(layers, Math.min(...list.map((s) => s.depth)), node);
    let enumerated = -1;
    let volume = 0;
    for (const depth of [...layers.keys()].sort((a, b) => a - b)) {
      volume += layers.get(depth)!.reduce((sum, n) => sum + (degree.get(n) ?? budget), 0);
      if (enumerated >= 0 && volume > budget) break;
      enumerated = depth;
    }
    const near = (depth: number) => depth <= enumerated;
    const deep = (depth: number) => depth > enumerated;
    // a node can be near for one seed and far for another
    const nodes = [...sources.keys()];
    const nearNodes = nodes.filter((n) => sources.get(n)!.some((s) => near(s.depth)));
    const far = nodes.filter((n) => sources.get(n)!.some((s) => deep(s.depth)));
    reach(await links.chunksOf(nearNodes), near);
    if (far.length) {
      // what a chunk can still gain from each seed's deeper sources
      const gain = new Float64Array(seedCount);
      for (const node of far) for (const s of sources.get(node)!) if (deep(s.depth)) gain[s.seed] = Math.max(gain[s.seed], 1 / (s.depth + 1));
      // each chunk reached so far (by slot): its score now, and the most it can reach
      const reached = nearest.names.length;
      const lower = new Float64Array(reached);
      const upper = new Float64Array(reached);
      const d = nearest.distances;
      for (let i = 0; i < reached; i++) {
        for (let s = 0, at = i * seedCount; s < seedCount; s++, at++) {
          if (d[at] !== Infinity) {
            lower[i] += 1 / d[at];
            upper[i] += 1 / d[at];
          } else upper[i] += gain[s];
        }
      }
      const kthLower = reached >= limit ? lower.slice().sort()[reached - limit] : -Infinity;
      // the chunks that can still reach the top, in ranking order of their bounds (ties by id, as the ranking breaks
      // them), tested in growing batches until the k-th exact score among those tested beats the next one's bound
      const names = nearest.names;
      const open: number[] = [];
      for (let i = 0; i < reached; i++) if (upper[i] >= kthLower) open.push(i);
      open.sort((a, b) => upper[b] - upper[a] || (names[a] < names[b] ? -1 : 1));
      const farEdges = far.reduce((sum, n) => sum + (degree.get(n) ?? budget), 0);
      let exact: ScoredId[] = [];
      for (let tested = 0, size = firstBatch ?? Math.max(4 * limit, 64); tested < open.length; size *= 4) {
        const batch = open.slice(tested, tested + size).map((i) => names[i]);
        reach(await links.linksBetween(batch, far, farEdges), deep);
        tested += batch.length;
        exact = nearest.top(limit, open.slice(0, tested));
        const next = open[tested];
        const kth = exact[limit - 1];
        if (next !== undefined && kth && (kth.score > upper[next] || (kth.score === upper[next] && CHUNK + kth.chunk_id < names[next]))) break;
      }
      const unseen = gain.reduce((a, b) => a + b, 0);
      // every chunk left out of `open` scores below the k-th lower bound; an unseen chunk scores at most `unseen`
      if (exact.length >= limit && exact[limit - 1].score > unseen) return exact;
      reach(await links.chunksOf(far), deep);
    }
    return nearest.top(limit);
  } finally {
    nearest.release();
  }
}

/** Slot-by-ordinal arrays not in use, per names table (one is taken per search in progress: searches overlap). */
const freeSlotArrays = new WeakMap<NamesTable, Int32Array[]>();
/** At most this many kept per names table; more searches at once allocate their own, collected after. */
const MAX_FREE_SLOT_ARRAYS = 4;

/**
 * The smallest distance found so far from each seed to each chunk reached: one flat array, a row of `seedCount`
 * per chunk (a typed array per chunk and a sort of every chunk reached cost more than the walk itself). A chunk
 * reached by ordinal finds its row through an array indexed by ordinal (a string lookup per edge was a fifth of the
 * walk); by id, through the names table first, so either way a chunk has one row.
 */
class NearestDistances {
  readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  distances: Float64Array;
  /** The names table of the first chunk reached by ordinal, with its row + 1 by ordinal (0: none). */
  private table: NamesTable | undefined;
  private rowOf: Int32Array | undefined;
  private readonly byOrdinal: number[] = [];

  constructor(private readonly seedCount: number) {
    this.distances = new Float64Array(64 * seedCount).fill(Infinity);
  }

  /** Where the row of the chunk with id `chunk` starts (a new chunk gets a row of Infinity). */
  slot(chunk: string): number {
    const o = this.table?.ordinals.get(chunk);
    if (o !== undefined && o < this.rowOf!.length) return this.slotOf(this.table!, o);
    let i = this.index.get(chunk);
    if (i === undefined) this.index.set(chunk, (i = this.add(chunk)));
    return i * this.seedCount;
  }

  /** Where the row of the chunk with ordinal `o` in `table` starts. */
  slotOf(table: NamesTable, o: number): number {
    if (table !== this.table) {
      if (this.table || o >= table.names.length) return this.slot(table.names[o]);
      this.table = table;
      this.rowOf = freeSlotArrays.get(table)?.pop();
      // sized for the table as it is, with room for names added while the search reads lists
      if (!this.rowOf || this.rowOf.length < table.names.length) this.rowOf = new Int32Array(table.names.length + 1024);
    }
    const rowOf = this.rowOf!;
    if (o >= rowOf.length) return this.slot(table.names[o]);
    let i = rowOf[o] - 1;
    if (i < 0) {
      // reached by id before its name entered the table
      i = this.index.size ? (this.index.get(table.names[o]) ?? -1) : -1;
      if (i < 0) i = this.add(table.names[o]);
      rowOf[o] = i + 1;
      this.byOrdinal.push(o);
    }
    return i * this.seedCount;
  }

  /** Lowers the row at `at` to each source's distance + 1 from its seed. */
  lower(at: number, from: { seed: number; depth: number }[]): void {
    const d = this.distances;
    for (const s of from) if (s.depth + 1 < d[at + s.seed]) d[at + s.seed] = s.depth + 1;
  }

  /** Hands the slot-by-ordinal array back, cleared, for another search (a few are kept: 4 bytes per name each). */
  release(): void {
    if (!this.table || !this.rowOf) return;
    for (const o of this.byOrdinal) this.rowOf[o] = 0;
    let free = freeSlotArrays.get(this.table);
    if (!free) freeSlotArrays.set(this.table, (free = []));
    if (free.length < MAX_FREE_SLOT_ARRAYS) free.push(this.rowOf);
    this.rowOf = undefined;
  }

  private add(chunk: string): number {
    const i = this.names.length;
    this.names.push(chunk);
    if ((i + 1) * this.seedCount > this.distances.length) {
      const grown = new Float64Array(this.distances.length * 2).fill(Infinity);
      grown.set(this.distances);
      this.distances = grown;
    }
    return i;
  }

  /** The best `limit` of the given rows (all reached chunks by default): score Σ 1 / distance, then id. */
  top(limit: number, only?: number[]): ScoredId[] {
    const rows = only ?? this.names.map((_, i) => i);
    const scores = new Float64Array(rows.length);
    const d = this.distances;
    for (let r = 0; r < rows.length; r++) {
      let total = 0;
      for (let s = 0, at = rows[r] * this.seedCount; s < this.seedCount; s++, at++) if (d[at] !== Infinity) total += 1 / d[at];
      scores[r] = total;
    }
    // only what can make the top needs the comparison by id: scores above the limit-th best (fewer than `limit`),
    // and of those tied with it (often thousands: a law's citations put a third of the corpus at one distance) the
    // ones with the smallest ids, found without sorting them all
    const floor = rows.length > limit ? scores.slice().sort()[rows.length - limit] : -Infinity;
    const above: number[] = [];
    const tied: number[] = [];
    for (let r = 0; r < rows.length; r++) {
      if (scores[r] > floor) above.push(r);
      else if (scores[r] === floor) tied.push(r);
    }
    const picked: ScoredId[] = [];
    for (const r of [...above, ...smallestIds(tied, limit - above.length, (r) => this.names[rows[r]])]) {
      picked.push({ chunk_id: this.names[rows[r]].slice(CHUNK.length), score: scores[r] });
    }
    picked.sort((a, b) => b.score - a.score || (a.chunk_id < b.chunk_id ? -1 : a.chunk_id > b.chunk_id ? 1 : 0));
    return picked.slice(0, limit);
  }
}

/** The `m` of `items` whose names come first (in no particular order): a bounded heap, the last name on top. */
function smallestIds(items: number[], m: number, name: (item: number) => string): number[] {
  if (items.length <= m) return items;
  if (m <= 0) return [];
  const heap: number[] = [];
  const sift = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < heap.length && name(heap[l]) > name(heap[top])) top = l;
      if (r < heap.length && name(heap[r]) > name(heap[top])) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top], heap[i]];
      i = top;
    }
  };
  for (const item of items) {
    if (heap.length < m) {
      heap.push(item);
      for (let i = heap.length - 1, p = (i - 1) >> 1; i > 0 && name(heap[p]) < name(heap[i]); i = p, p = (i - 1) >> 1) {
        [heap[i], heap[p]] = [heap[p], heap[i]];
      }
    } else if (name(item) < name(heap[0])) {
      heap[0] = item;
      sift(0);
    }
  }
  return heap;
}
