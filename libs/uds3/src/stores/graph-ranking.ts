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

export interface GraphLinks {
  /** Edges from the given nodes to entity (non-chunk) nodes that are not hubs, with those nodes' degrees. */
  entityNeighbours(nodes: string[]): Promise<{ src: string; dst: string; degree: number }[]>;
  /** Every (source → chunk) edge of the given source nodes. */
  chunksOf(nodes: string[]): Promise<{ src: string; dst: string }[]>;
  /** The (source → chunk) edges between the given chunks and sources; `nodeEdges` bounds the sources' edges. */
  linksBetween(chunks: string[], nodes: string[], nodeEdges: number): Promise<{ src: string; dst: string }[]>;
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
  const reach = (edges: { src: string; dst: string }[], only?: (depth: number) => boolean) => {
    for (const { src, dst } of edges) {
      const at = nearest.slot(dst);
      const d = nearest.distances;
      for (const s of sources.get(src) ?? []) {
        if ((!only || only(s.depth)) && s.depth + 1 < d[at + s.seed]) d[at + s.seed] = s.depth + 1;
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
  // a node can be near for one seed and far for another
  const nodes = [...sources.keys()];
  const near = nodes.filter((n) => sources.get(n)!.some((s) => s.depth <= enumerated));
  const far = nodes.filter((n) => sources.get(n)!.some((s) => s.depth > enumerated));
  reach(await links.chunksOf(near), (depth) => depth <= enumerated);
  if (far.length) {
    // what a chunk can still gain from each seed's deeper sources
    const gain = new Float64Array(seedCount);
    for (const node of far) for (const s of sources.get(node)!) if (s.depth > enumerated) gain[s.seed] = Math.max(gain[s.seed], 1 / (s.depth + 1));
    const bounds = nearest.names.map((chunk, i) => {
      const d = nearest.distances;
      let lower = 0;
      let upper = 0;
      for (let s = 0, at = i * seedCount; s < seedCount; s++, at++) {
        if (d[at] !== Infinity) lower += 1 / d[at];
        upper += d[at] !== Infinity ? 1 / d[at] : gain[s];
      }
      return { chunk, lower, upper };
    });
    const kthLower = bounds.length >= limit ? bounds.map((b) => b.lower).sort((a, b) => b - a)[limit - 1] : -Infinity;
    // the chunks that can still reach the top, in ranking order of their bounds (ties by id, as the ranking breaks
    // them), tested in growing batches until the k-th exact score among those tested beats the next one's bound
    const open = bounds.filter((b) => b.upper >= kthLower).sort((a, b) => b.upper - a.upper || (a.chunk < b.chunk ? -1 : 1));
    const farEdges = far.reduce((sum, n) => sum + (degree.get(n) ?? budget), 0);
    let exact: ScoredId[] = [];
    for (let tested = 0, size = firstBatch ?? Math.max(4 * limit, 64); tested < open.length; size *= 4) {
      const batch = open.slice(tested, tested + size).map((b) => b.chunk);
      reach(await links.linksBetween(batch, far, farEdges), (depth) => depth > enumerated);
      tested += batch.length;
      exact = nearest.top(limit, open.slice(0, tested).map((b) => b.chunk));
      const next = open[tested];
      const kth = exact[limit - 1];
      if (next && kth && (kth.score > next.upper || (kth.score === next.upper && CHUNK + kth.chunk_id < next.chunk))) break;
    }
    const unseen = gain.reduce((a, b) => a + b, 0);
    // every chunk left out of `open` scores below the k-th lower bound; an unseen chunk scores at most `unseen`
    if (exact.length >= limit && exact[limit - 1].score > unseen) return exact;
    reach(await links.chunksOf(far), (depth) => depth > enumerated);
  }
  return nearest.top(limit);
}

/**
 * The smallest distance found so far from each seed to each chunk reached: one flat array, a row of `seedCount`
 * per chunk (a typed array per chunk and a sort of every chunk reached cost more than the walk itself).
 */
class NearestDistances {
  readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  distances: Float64Array;

  constructor(private readonly seedCount: number) {
    this.distances = new Float64Array(64 * seedCount).fill(Infinity);
  }

  /** Where the chunk's row starts (a new chunk gets a row of Infinity). */
  slot(chunk: string): number {
    let i = this.index.get(chunk);
    if (i === undefined) {
      i = this.names.length;
      this.index.set(chunk, i);
      this.names.push(chunk);
      if ((i + 1) * this.seedCount > this.distances.length) {
        const grown = new Float64Array(this.distances.length * 2).fill(Infinity);
        grown.set(this.distances);
        this.distances = grown;
      }
    }
    return i * this.seedCount;
  }

  /** The best `limit` of the given chunks (all reached ones by default): score Σ 1 / distance, then id. */
  top(limit: number, only?: string[]): ScoredId[] {
    const rows = only ? only.map((c) => this.index.get(c)!) : this.names.map((_, i) => i);
    const scores = new Float64Array(rows.length);
    const d = this.distances;
    for (let r = 0; r < rows.length; r++) {
      let total = 0;
      for (let s = 0, at = rows[r] * this.seedCount; s < this.seedCount; s++, at++) if (d[at] !== Infinity) total += 1 / d[at];
      scores[r] = total;
    }
    // only what can make the top needs the comparison by id: scores at least the limit-th best
    const floor = rows.length > limit ? scores.slice().sort()[rows.length - limit] : -Infinity;
    const picked: ScoredId[] = [];
    for (let r = 0; r < rows.length; r++) {
      if (scores[r] >= floor) picked.push({ chunk_id: this.names[rows[r]].slice(CHUNK.length), score: scores[r] });
    }
    picked.sort((a, b) => b.score - a.score || (a.chunk_id < b.chunk_id ? -1 : a.chunk_id > b.chunk_id ? 1 : 0));
    return picked.slice(0, limit);
  }
}
