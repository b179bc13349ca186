/**
 * The chunk end points of entity nodes, kept in memory between graph searches.
 *
 * A graph search walks a few entity nodes (cheap), then asks which chunks hang off them: either every chunk of the
 * near nodes or, for the far ones, which of ~200 candidate chunks touch them. In the database both read edge pages
 * that are mostly cold (chunks are random), and that was most of a graph search's time. Entity nodes that are
 * walked have at most `maxFanout` edges, so their chunk lists are short, and popular query entities recur: caching
 * each node's list turns both questions into lookups in memory.
 *
 * Every list is tagged with the version of its node (the store's row version, e.g. PostgreSQL's `xmin`), read in
 * the same statement as the list. Any change to a node's edges rewrites its row, and the walk reads each node's
 * current version, so a list is used only while its node is unchanged — also when another process wrote it.
 */
import type { GraphLinks, NamesTable, SourceChunks } from './graph-ranking.js';

/** Chunk node ids as small integers, so a cached list is an Int32Array. Replaced, never cleared, on a reset. */
type Interner = NamesTable;

export interface CachedChunkList {
  readonly version: string;
  /** Ordinals in `interner`. */
  readonly chunks: Int32Array;
  readonly interner: Interner;
  readonly bytes: number;
}

/** Rough heap cost of one interned name (the string, its Map entry and its array slot). */
const nameBytes = (name: string) => 72 + name.length;

/** Least recently used lists go first; the names table is dropped as a whole when it alone outgrows the budget. */
export class ChunkListCache {
  private readonly lists = new Map<string, CachedChunkList>();
  private interner: Interner = { ordinals: new Map(), names: [] };
  private internerBytes = 0;
  private listBytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Cached nodes. */
  get size(): number {
    return this.lists.size;
  }

  get usedBytes(): number {
    return this.listBytes + this.internerBytes;
  }

  /** Of `nodes`, those with no list kept (of any version): a store can read their lists ahead. */
  uncached(nodes: string[]): string[] {
    return nodes.filter((n) => !this.lists.has(n));
  }

  /** The list of `node` at that version; `undefined` when not cached (a list of another version is dropped). */
  get(node: string, version: string): CachedChunkList | undefined {
    const entry = this.lists.get(node);
    if (!entry) return undefined;
    this.lists.delete(node);
    if (entry.version !== version) {
      this.listBytes -= entry.bytes;
      return undefined;
    }
    this.lists.set(node, entry); // most recently used: the end of the Map's order
    return entry;
  }

  put(node: string, version: string, chunks: readonly string[]): void {
    const old = this.lists.get(node);
    if (old) {
      this.lists.delete(node);
      this.listBytes -= old.bytes;
    }
    const bytes = 64 + 2 * node.length + 4 * chunks.length;
    let newNames = 0;
    for (const c of chunks) if (!this.interner.ordinals.has(c)) newNames += nameBytes(c);
    for (const [k, e] of this.lists) {
      if (this.usedBytes + newNames + bytes <= this.maxBytes) break;
      this.lists.delete(k);
      this.listBytes -= e.bytes;
    }
    if (this.usedBytes + newNames + bytes > this.maxBytes) {
      // the names of lists no longer cached fill the budget: start a new table (lists held by a search in
      // progress keep the old one, which they reference)
      this.interner = { ordinals: new Map(), names: [] };
      this.internerBytes = 0;
      newNames = chunks.reduce((sum, c) => sum + nameBytes(c), 0);
      if (newNames + bytes > this.maxBytes) return;
    }
    const { ordinals, names } = this.interner;
    const list = new Int32Array(chunks.length);
    for (let i = 0; i < chunks.length; i++) {
      let o = ordinals.get(chunks[i]);
      if (o === undefined) {
        ordinals.set(chunks[i], (o = names.length));
        names.push(chunks[i]);
      }
      list[i] = o;
    }
    this.internerBytes += newNames;
    this.listBytes += bytes;
    this.lists.set(node, { version, chunks: list, interner: this.interner, bytes });
  }
}

/** Scratch bytes, one per name of a names table, all 0 between uses (see linksBetween). */
const scratchMarks = new WeakMap<Interner, Uint8Array>();

function marksOf(interner: Interner): Uint8Array {
  let marks = scratchMarks.get(interner);
  if (!marks || marks.length < interner.names.length) {
    // grown ahead, as the table grows while lists are cached
    marks = new Uint8Array(Math.max(1024, interner.names.length * 2));
    scratchMarks.set(interner, marks);
  }
  return marks;
}

/** The entries of `list` whose byte in `marks` is 1 (a small loop of its own: it runs hot). */
function marked(list: Int32Array, marks: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < list.length; i++) if (marks[list[i]] === 1) out.push(list[i]);
  return out;
}

/** What the walk learnt of each entity node it reached. */
export type WalkedNodes = Map<string, { version: string }>;

export interface ChunkListLoader {
  /**
   * Every chunk end point of each given node, with the node's version read in the same statement. A node that no
   * longer exists is left out.
   */
  loadChunkLists(nodes: string[]): Promise<Map<string, { version: string; chunks: string[] }>>;
}

/**
 * `base` with its chunk edges answered from `cache` where the walked node's version is cached, and read into the
 * cache otherwise: a missing node's whole list is read (at most `maxFanout` edges) even when the ranking only asks
 * which of a batch of chunks touch it. Measured at 100,000 chunks (bench/search, same runs), reading whole lists
 * beat asking the database about the batch from the first search on (hybrid p95 18.9 against 28.4 ms right after
 * start, with a per-search limit of 8,000 edges read and the rest asked), as recurring entities accumulate.
 */
export function cachedGraphLinks(base: GraphLinks, loader: ChunkListLoader, cache: ChunkListCache, walked: WalkedNodes): GraphLinks {
  const split = (nodes: string[]) => {
    const hits: [string, CachedChunkList][] = [];
    const misses: string[] = [];
    for (const node of nodes) {
      const version = walked.get(node)?.version;
      const entry = version === undefined ? undefined : cache.get(node, version);
      if (entry) hits.push([node, entry]);
      else misses.push(node);
    }
    return { hits, misses };
  };
  const load = async (nodes: string[]) => {
    const lists = nodes.length ? await loader.loadChunkLists(nodes) : new Map<string, { version: string; chunks: string[] }>();
    for (const [node, { version, chunks }] of lists) cache.put(node, version, chunks);
    return lists;
  };
  return {
    entityNeighbours: (nodes) => base.entityNeighbours(nodes),
    chunksOf: async (nodes) => {
      const { hits, misses } = split(nodes);
      const out: SourceChunks[] = hits.map(([src, { chunks, interner }]) => ({ src, ordinals: chunks, table: interner }));
      for (const [src, { chunks }] of await load(misses)) out.push({ src, chunks });
      return out;
    },
    linksBetween: async (chunks, nodes) => {
      const { hits, misses } = split(nodes);
      const out: SourceChunks[] = [];
      // the batch's ordinals marked in a byte per name (per names table: one, unless it was replaced between two
      // lists' loads), so testing a list costs one array read per entry; the bytes are the table's own, kept
      // between searches and cleared again below (a fresh array per search cost more than the tests)
      const marks: [Interner, Uint8Array, number[]][] = [];
      try {
        for (const [src, { chunks: list, interner }] of hits) {
          let m = marks.find(([i]) => i === interner);
          if (!m) {
            m = [interner, marksOf(interner), []];
            for (const c of chunks) {
              const o = interner.ordinals.get(c);
              if (o !== undefined) {
                m[1][o] = 1;
                m[2].push(o);
              }
            }
            marks.push(m);
          }
          const found = marked(list, m[1]);
          if (found.length) out.push({ src, ordinals: found, table: interner });
        }
      } finally {
        for (const [, mark, set] of marks) for (const o of set) mark[o] = 0;
      }
      const batch = new Set(chunks);
      for (const [src, list] of await load(misses)) {
        const found = list.chunks.filter((dst) => batch.has(dst));
        if (found.length) out.push({ src, chunks: found });
      }
      return out;
    },
  };
}

/** A walkable entity node (not a chunk, not a hub) as a walk reads it: its degree and row version. */
export interface EntityRow {
  id: string;
  degree: number;
  version: string;
}

/** An edge from an entity node to a walkable entity node, with that node's degree and row version. */
export interface NeighbourRow {
  src: string;
  dst: string;
  degree: number;
  version: string;
}

type WalkEntry = { kind: 'seed'; row: EntityRow | null; bytes: number } | { kind: 'out'; rows: NeighbourRow[]; bytes: number };

/**
 * The entity part of graph walks — which seeds are walkable entities, and each entity's walkable neighbours — kept
 * for one version of the whole graph and one hub threshold. The store bumps the graph's version in every
 * transaction that writes nodes or edges, and a search reads it before anything else, so what a search reads is at
 * least as new as the version it read; a search stores what it read only while the cache is still at that
 * version, and a newer version drops everything. Without writes a walk then reads nothing but the version (at
 * 100,000 chunks on PGlite the seed lookup took 0.55 ms and each neighbour step 1.2 ms; bench/search).
 */
export class EntityWalkCache {
  private key: { version: bigint; maxFanout: number } | undefined;
  /** `s<id>`: a seed's row (null: not walkable); `n<id>`: a node's walkable neighbours. Oldest use first. */
  private readonly entries = new Map<string, WalkEntry>();
  private bytes = 0;
  /**
   * Every walkable node among the ids `covers` answers for, at the cache's version and threshold: a seed it covers
   * that is not among them is no walkable seed, known without a statement (most query words name no entity node:
   * 57 % of hybrid searches at 100,000 chunks read the graph for such words alone; bench/README.md).
   */
  private walkable: { ids: Set<string>; covers: (id: string) => boolean } | 'too large' | undefined;

  constructor(readonly maxBytes: number) {}

  get usedBytes(): number {
    return this.bytes;
  }

  /**
   * Of `ids`, those without a seed row (`seeds`) or a neighbour list (`neighbours`) kept for `maxFanout`, as the
   * cache stands: what a walk will read unless the graph's version has moved on. A store can read these in the
   * same statement as the version. Leaves the use order as it is.
   */
  uncached(ids: string[], maxFanout: number, what: 'seeds' | 'neighbours'): string[] {
    if (this.key?.maxFanout !== maxFanout) return ids;
    if (what === 'seeds') return ids.filter((id) => !this.entries.has(`s${id}`) && !this.knownUnwalkable(id));
    return this.mayWalk(ids, maxFanout).filter((id) => !this.entries.has(`n${id}`));
  }

  /** Of `ids`, those not known (as the cache stands) to be no walkable seed: a walk may start from these. */
  mayWalk(ids: string[], maxFanout: number): string[] {
    if (this.key?.maxFanout !== maxFanout) return ids;
    return ids.filter((id) => {
      const seed = this.entries.get(`s${id}`);
      return !(seed?.kind === 'seed' && seed.row === null) && !this.knownUnwalkable(id);
    });
  }

  /**
   * Whether the walkable set was read at the cache's current version for `maxFanout` (see `knowWalkable`): kept, or
   * found too large to keep (then not read again until the version moves on).
   */
  knowsWalkable(maxFanout: number): boolean {
    return this.walkable !== undefined && this.key?.maxFanout === maxFanout;
  }

  /**
   * Keeps `ids` as every walkable node among those that `covers` answers for, at graph `version` with hubs above
   * `maxFanout` (read in one snapshot). An older version than the cache's is ignored; a newer one starts the cache
   * afresh, as a walk at it would. A set larger than half the cache's memory is not kept.
   */
  knowWalkable(version: string, maxFanout: number, ids: string[], covers: (id: string) => boolean): void {
    if (!this.moveTo(BigInt(version), maxFanout)) return;
    const bytes = ids.reduce((sum, id) => sum + 48 + 2 * id.length, 0);
    this.walkable = bytes <= this.maxBytes / 2 ? { ids: new Set(ids), covers } : 'too large';
  }

  private knownUnwalkable(id: string): boolean {
    const walkable = this.walkable;
    return typeof walkable === 'object' && walkable.covers(id) && !walkable.ids.has(id);
  }

  /** Makes `version` and `maxFanout` the cache's, emptying it when they differ; false if `version` is older. */
  private moveTo(v: bigint, maxFanout: number): boolean {
    if (!this.key || v > this.key.version || (v === this.key.version && maxFanout !== this.key.maxFanout)) {
      this.entries.clear();
      this.bytes = 0;
      this.walkable = undefined;
      this.key = { version: v, maxFanout };
    }
    return v === this.key.version;
  }

  /**
   * A walk at graph `version` (a decimal bigint) with hubs above `maxFanout`. An older version than the cache's
   * reads through and stores nothing; a newer one, or another threshold, starts the cache afresh.
   */
  walk(version: string, maxFanout: number): EntityWalk {
    const v = BigInt(version);
    this.moveTo(v, maxFanout);
    const key = this.key!;
    const current = () => this.key === key && key.version === v && key.maxFanout === maxFanout;
    const lookup = async <T>(
      ids: string[],
      prefix: 's' | 'n',
      read: (missing: string[]) => Promise<T[]>,
      store: (ids: string[], rows: T[]) => void,
      cached: (entry: WalkEntry, out: T[]) => void,
    ): Promise<T[]> => {
      if (!current()) return ids.length ? read(ids) : [];
      const out: T[] = [];
      const missing: string[] = [];
      for (const id of ids) {
        const entry = this.entries.get(prefix + id);
        if (!entry) {
          missing.push(id);
          continue;
        }
        this.entries.delete(prefix + id); // most recently used: the end of the Map's order
        this.entries.set(prefix + id, entry);
        cached(entry, out);
      }
      if (missing.length) {
        const rows = await read(missing);
        out.push(...rows);
        if (current()) store(missing, rows);
      }
      return out;
    };
    return {
      seeds: (ids, read) =>
        lookup(
          current() ? ids.filter((id) => !this.knownUnwalkable(id)) : ids,
          's',
          read,
          (missing, rows) => {
            const found = new Map(rows.map((r) => [r.id, r]));
            for (const id of missing) {
              const row = found.get(id) ?? null;
              this.put(`s${id}`, { kind: 'seed', row, bytes: 96 + 2 * id.length + (row ? 2 * row.version.length + 48 : 0) });
            }
          },
          (entry, out) => {
            if (entry.kind === 'seed' && entry.row) out.push(entry.row);
          },
        ),
      neighbours: (nodes, read) =>
        lookup(
          nodes,
          'n',
          read,
          (missing, rows) => {
            const bySrc = new Map<string, NeighbourRow[]>(missing.map((id) => [id, []]));
            for (const r of rows) bySrc.get(r.src)?.push(r);
            for (const [id, list] of bySrc) {
              const bytes = 96 + 2 * id.length + list.reduce((sum, r) => sum + 64 + 2 * (r.dst.length + r.version.length), 0);
              this.put(`n${id}`, { kind: 'out', rows: list, bytes });
            }
          },
          (entry, out) => {
            if (entry.kind === 'out') out.push(...entry.rows);
          },
        ),
    };
  }

  private put(key: string, entry: WalkEntry): void {
    if (entry.bytes > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.bytes;
    }
    for (const [k, e] of this.entries) {
      if (this.bytes + entry.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.bytes;
    }
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
  }
}

/** One search's view of an EntityWalkCache; each `read` gets the ids the cache could not answer. */
export interface EntityWalk {
  /** The rows of the given ids that are walkable entities (a missing id is not one). */
  seeds(ids: string[], read: (missing: string[]) => Promise<EntityRow[]>): Promise<EntityRow[]>;
  /** The walkable-neighbour edges of the given nodes. */
  neighbours(nodes: string[], read: (missing: string[]) => Promise<NeighbourRow[]>): Promise<NeighbourRow[]>;
}
