/**
 * Knowledge graph as two PostgreSQL tables, walked with a recursive CTE: the embedded default, and it works on
 * a plain PostgreSQL server too. Edges are stored in both directions so the walk follows one index.
 */
import type { DataSource } from 'typeorm';
import type { GraphEdge, GraphNode, ScoredId } from '../../model.js';
import type { GraphStore } from '../interfaces.js';
import { cachedGraphLinks, ChunkListCache, EntityWalkCache, type EntityRow, type NeighbourRow, type WalkedNodes } from '../graph-cache.js';
import { bySource, CHUNK, proximityTopK, type GraphLinks } from '../graph-ranking.js';
import { entityNodeId } from '../../text/entities.js';
import { pagesOf, preparedQuery } from './sql.js';

/** Typical edges of a chunk node (its document, citations and keywords). */
const CHUNK_EDGES = 15;

/**
 * Id prefixes of the nodes searches start from (`queryEntities`): keywords and citations, which `buildGraph` makes
 * nodes of kind 'entity' (and only these).
 */
const SEED_PREFIXES = [entityNodeId.keyword(''), entityNodeId.citation('')];
const isSeedNode = (id: string) => SEED_PREFIXES.some((p) => id.startsWith(p));

export class PgGraphStore implements GraphStore {
  readonly kind = 'postgres';
  /** PostgreSQL 17+ walks several `= ANY` index conditions in one pass; older servers descend once per pair. */
  private arrayScans = false;
  /** Chunk lists of entity nodes kept between searches, tagged with the node row's `xmin` (none when 0 bytes). */
  private readonly cache: ChunkListCache | undefined;
  /** Seeds and entity neighbours of the graph's current version (`ds_graph_state`; none when 0 bytes). */
  private readonly walks: EntityWalkCache | undefined;
  /** Whether searches keep the set of walkable seed nodes (from the warm-up on: see learnWalkable). */
  private learnsWalkable = false;
  private learning: Promise<void> | undefined;

  /**
   * `cacheBytes`: memory for what graph searches keep between searches (default 64 MiB; 0 = none): 7/8 for the
   * chunk lists of entity nodes, 1/8 for the entity walk.
   */
  constructor(
    private readonly db: DataSource,
    cacheBytes = 64 * 2 ** 20,
  ) {
    this.cache = cacheBytes > 0 ? new ChunkListCache(cacheBytes - Math.floor(cacheBytes / 8)) : undefined;
    this.walks = cacheBytes > 0 ? new EntityWalkCache(Math.floor(cacheBytes / 8)) : undefined;
  }

  /** The database the graph tables live in. */
  get dataSource(): DataSource {
    return this.db;
  }

  async init(): Promise<void> {
    // tables created by the UDS3 migrations; the server version picks the membership query (see `expand`)
    const [row] = await this.db.query(`SELECT current_setting('server_version_num')::int AS v`);
    this.arrayScans = row.v >= 170000;
  }

  async upsert(nodes: GraphNode[], edges: GraphEdge[]): Promise<void> {
    await this.db.transaction(async (em) => {
      for (let i = 0; i < nodes.length; i += 5000) {
        const part = nodes.slice(i, i + 5000);
        await em.query(
          `INSERT INTO ds_graph_nodes (id, kind, label) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT (id) DO NOTHING`,
          [part.map((n) => n.id), part.map((n) => n.kind), part.map((n) => n.label)],
        );
      }
      const both = edges.flatMap((e) => [e, { src: e.dst, dst: e.src, kind: e.kind }]);
      for (let i = 0; i < both.length; i += 5000) {
        const part = both.slice(i, i + 5000);
        // degree = stored edges per node, kept incrementally: only edges that were really new count
        await em.query(
          `WITH added AS (
             INSERT INTO ds_graph_edges (src, dst, kind) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
             ON CONFLICT DO NOTHING RETURNING src)
           UPDATE ds_graph_nodes n SET degree = n.degree + a.n FROM (SELECT src, count(*)::int AS n FROM added GROUP BY src) a
           WHERE n.id = a.src`,
          [part.map((e) => e.src), part.map((e) => e.dst), part.map((e) => e.kind)],
        );
      }
    });
  }

  /**
   * Breadth-first walk from each seed over the entity graph; a chunk scores Σ over seeds of 1 / (its distance
   * from that seed). Chunks are end points (the walk does not continue through them, or every shared common word
   * would connect everything), and hubs (more than `maxFanout` edges) are reached but not expanded. A hub seed (a
   * very common query word) is dropped: like a stop-word it says little.
   *
   * Exact top `limit`, computed lazily: the walk over entity nodes is small, but their chunk end points are not
   * (a citation → its law → the law's 120 citations → 30,000 chunks at 100,000 chunks). Near layers are enumerated;
   * deeper layers are only tested for the chunks that can still reach the top, and enumerated only when an
   * unseen chunk could (see `rank`). Chunk nodes are recognised by their id prefix, which carries the chunk id.
   */
  async expand(seedIds: string[], hops: number, limit: number, maxFanout: number, version?: Promise<string | undefined>): Promise<ScoredId[]> {
    if (!seedIds.length) return [];
    // after a write (or before the warm-up) the walkable seed nodes are learnt again, beside the searches
    if (this.learnsWalkable && !this.walks!.knowsWalkable(maxFanout)) void this.learnWalkable(maxFanout);
    // each walked node's row version, for the chunk-list cache (any change to a node's edges rewrites its row)
    const walked: WalkedNodes = new Map();
    const unique = [...new Set(seedIds)];
    // The graph's version comes first (what the walk reads later is at least this new; see EntityWalkCache), in one
    // statement with the seeds and first steps the cache lacks as it stands, so a walk from new query words takes one
    // round trip less, twice. A newer version empties the cache; what that statement did not read is read after.
    const seeds = this.walks ? this.walks.uncached(unique, maxFanout, 'seeds') : unique;
    const outOf = hops > 1 ? (this.walks ? this.walks.uncached(unique, maxFanout, 'neighbours') : unique) : [];
    const listsOf = this.cache?.uncached(this.walks ? this.walks.mayWalk(unique, maxFanout) : unique) ?? [];
    // When the caches hold all of that, the version read by the caller's statement at the start of this search
    // serves as well as one read here, and the walk needs no statement at all (unless the version moved on).
    const known = !seeds.length && !outOf.length && !listsOf.length && version ? await version : undefined;
    const first = known !== undefined ? nothingReadAt(known) : await this.readWalk(seeds, outOf, listsOf, maxFanout);
    const walk = this.walks?.walk(first.version, maxFanout);
    // what that statement did not read, read by the same function (its plan is kept: see readWalk)
    const readSeeds = (ids: string[]) => first.seeds.answer(ids, async (rest) => (await this.readWalk(rest, [], [], maxFanout)).seedRows);
    // a node is walked only if it is walkable, and then the first statement read all of its walkable neighbours
    const readNeighbours = (nodes: string[]) =>
      first.neighbours.answer(nodes, async (rest) => (await this.readWalk([], rest, [], maxFanout)).neighbourRows);
    // seed order fixes the order scores are summed in: the same with and without the cache
    const seedRows = (walk ? await walk.seeds(unique, readSeeds) : await readSeeds(unique)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const s of seedRows) walked.set(s.id, s);
    const links: GraphLinks = {
      entityNeighbours: async (nodes) => {
        const rows = walk ? await walk.neighbours(nodes, readNeighbours) : await readNeighbours(nodes);
        for (const r of rows) walked.set(r.dst, r);
        return rows;
      },
      // Not prepared: how many rows these read depends on the lists, and a generic plan measured slower in the tail.
      chunksOf: async (nodes) =>
        bySource(await this.db.query(`SELECT src, dst FROM ds_graph_edges WHERE src = ANY($1::text[]) AND dst LIKE '${CHUNK}%'`, [nodes])),
      // PostgreSQL 17+ (PGlite): both lists as index conditions, citations first. Older servers turn two `= ANY`
      // index conditions into one descent per pair (1,400 chunks × 120 citations: 170,000 descents), so there the
      // query reads from the smaller side (a descent costs about 50 edge reads) with the other as a hashed filter
      // behind an OFFSET 0 fence.
      linksBetween: async (chunks, nodes, nodeEdges) => {
        if (this.arrayScans) {
          return bySource(await this.db.query(`SELECT src, dst FROM ds_graph_edges WHERE src = ANY($1::text[]) AND dst = ANY($2::text[])`, [nodes, chunks]));
        }
        const fromNodes = nodes.length * 50 + nodeEdges < chunks.length * (50 + CHUNK_EDGES);
        return bySource(await this.db.query(
          `SELECT ${fromNodes ? 'src, dst' : 'dst AS src, src AS dst'}
           FROM (SELECT src, dst FROM ds_graph_edges WHERE src = ANY($1::text[]) OFFSET 0) e WHERE dst = ANY($2::text[])`,
          fromNodes ? [nodes, chunks] : [chunks, nodes],
        ));
      },
    };
    return proximityTopK(seedRows, hops, limit, this.cache ? cachedGraphLinks(links, this, this.cache, walked) : links);
  }

  /**
   * In one snapshot: the graph's version (a transaction that writes nodes or edges raises it; triggers, see
   * migrations), the walkable rows among `seeds`, the walkable neighbours of the walkable nodes among `outOf`, and
   * the chunk lists of the walkable nodes among `listsOf`, which go into the chunk-list cache. Read by the function
   * `ds_graph_first_step`: see its migration (Uds3GraphFirstStep1764400000000) for why it is a function.
   */
  private async readWalk(seeds: string[], outOf: string[], listsOf: string[], maxFanout: number) {
    const rows = await preparedQuery<{ kind: 'v' | 's' | 'n' | 'c'; src: string; dst: string | null; degree: number | null; version: string | null }>(
      this.db,
      `SELECT kind, src, dst, degree, version FROM ds_graph_first_step($1::text[], $2::text[], $3::int, $4::text[])`,
      [seeds, outOf, maxFanout, listsOf],
    );
    const version = rows.find((r) => r.kind === 'v')?.src;
    // without its one row no write would raise the version, and kept walks would never be dropped
    if (version === undefined) throw new Error('ds_graph_state has no row: the UDS3 migration Uds3GraphVersion1764300000000 inserts it');
    const seedRows: EntityRow[] = [];
    const neighbourRows: NeighbourRow[] = [];
    const lists = new Map<string, { version: string; chunks: string[] }>();
    for (const r of rows) {
      if (r.kind === 's') seedRows.push({ id: r.src, degree: r.degree!, version: r.version! });
      else if (r.kind === 'n') neighbourRows.push({ src: r.src, dst: r.dst!, degree: r.degree!, version: r.version! });
      else if (r.kind === 'c') {
        let list = lists.get(r.src);
        if (!list) lists.set(r.src, (list = { version: r.version!, chunks: [] }));
        if (r.dst !== null) list.chunks.push(r.dst);
      }
    }
    // tagged with the node's version like any other list: the walk uses one only while the node is unchanged
    for (const [node, { version, chunks }] of lists) this.cache!.put(node, version, chunks);
    return {
      version,
      seedRows,
      neighbourRows,
      seeds: new ReadAhead(seeds, seedRows, (r) => r.id),
      neighbours: new ReadAhead(outOf, neighbourRows, (r) => r.src),
    };
  }

  /** Each node's chunk end points with the node row's version, read in one statement (see ChunkListLoader). */
  async loadChunkLists(nodes: string[]): Promise<Map<string, { version: string; chunks: string[] }>> {
    const rows: { id: string; version: string; dst: string | null }[] = await this.db.query(
      `SELECT n.id, n.xmin::text AS version, e.dst FROM ds_graph_nodes n
       LEFT JOIN ds_graph_edges e ON e.src = n.id AND e.dst LIKE '${CHUNK}%'
       WHERE n.id = ANY($1::text[])`,
      [nodes],
    );
    const lists = new Map<string, { version: string; chunks: string[] }>();
    for (const r of rows) {
      let list = lists.get(r.id);
      if (!list) lists.set(r.id, (list = { version: r.version, chunks: [] }));
      if (r.dst !== null) list.chunks.push(r.dst);
    }
    return lists;
  }

  async deleteDocuments(documentIds: string[]): Promise<void> {
    await this.db.transaction(async (em) => {
      const docNodes = documentIds.map((id) => `doc:${id}`);
      const chunkNodes: { dst: string }[] = await em.query(
        `SELECT dst FROM ds_graph_edges WHERE src = ANY($1::text[]) AND kind = 'HAS_CHUNK'`,
        [docNodes],
      );
      const doomed = [...docNodes, ...chunkNodes.map((c) => c.dst)];
      // surviving neighbours lose the edges to the deleted nodes
      await em.query(
        `UPDATE ds_graph_nodes n SET degree = n.degree - l.n
         FROM (SELECT src, count(*)::int AS n FROM ds_graph_edges WHERE dst = ANY($1::text[]) AND NOT src = ANY($1::text[]) GROUP BY src) l
         WHERE n.id = l.src`,
        [doomed],
      );
      await em.query(`DELETE FROM ds_graph_nodes WHERE id = ANY($1::text[])`, [doomed]);
    });
  }

  /**
   * Fills the graph caches after a start, so that the first searches do not each read what the caches fill with
   * (at 100,000 chunks a graph search took twice as long in its first few hundred searches as later): the
   * walkable entity nodes, most connected first (the query words a search most often meets), with their seed rows,
   * their walkable neighbours and their chunk lists, read by the statement a search's first step runs, a page of
   * about `pageEdges` edges at a time (searches interleave), until half of either cache is used or every such node
   * is in. `stop` ends it between pages. Returns how many nodes it read.
   */
  async warmCaches(maxFanout: number, stop: () => boolean = () => false, pageEdges = 4096): Promise<number> {
    const { cache, walks } = this;
    if (!cache || !walks) return 0;
    this.learnsWalkable = true;
    await this.learnWalkable(maxFanout);
    const nodes: { id: string; degree: number }[] = await this.db.query(
      `SELECT id, degree FROM ds_graph_nodes WHERE kind IN ('entity', 'law') AND degree <= $1 ORDER BY degree DESC, id`,
      [maxFanout],
    );
    let read = 0;
    for (const rows of pagesOf(nodes, pageEdges, (n) => n.degree)) {
      if (stop() || cache.usedBytes > cache.maxBytes / 2 || walks.usedBytes > walks.maxBytes / 2) break;
      const page = rows.map((n) => n.id);
      // the chunk lists go into the list cache in readWalk; the walk keeps what the statement read (all of it:
      // every node of the page is a walkable entity, and the statement read the walkable neighbours of each)
      const first = await this.readWalk(page, page, cache.uncached(page), maxFanout);
      const walk = walks.walk(first.version, maxFanout);
      await walk.seeds(page, async () => first.seedRows);
      await walk.neighbours(first.seedRows.map((r) => r.id), async () => first.neighbourRows);
      read += page.length;
    }
    return read;
  }

  /**
   * Reads every walkable keyword and citation node with the graph's version, in one statement (one snapshot), into
   * the walk cache, so a seed outside that set needs no statement while the version holds. One at a time; a
   * failure leaves searches reading seeds as before.
   */
  private learnWalkable(maxFanout: number): Promise<void> {
    this.learning ??= (async () => {
      try {
        // by the partial index of entity nodes (Uds3GraphEntities1764500000000)
        const [row]: { version: string | null; ids: string[] }[] = await this.db.query(
          `SELECT (SELECT version::text FROM ds_graph_state) AS version, coalesce(array_agg(id), '{}') AS ids
           FROM ds_graph_nodes WHERE kind = 'entity' AND degree <= $1`,
          [maxFanout],
        );
        if (row.version !== null) this.walks!.knowWalkable(row.version, maxFanout, row.ids, isSeedNode);
      } catch {
        // searches read their seeds as before; the next search after a write tries again
      } finally {
        this.learning = undefined;
      }
    })();
    return this.learning;
  }

  async countNodes(): Promise<number> {
    const [r] = await this.db.query(`SELECT count(*)::int AS n FROM ds_graph_nodes`);
    return r.n;
  }

  async close(): Promise<void> {}
}

/** What `readWalk` returns when there was nothing to read but the graph's version, and that was known. */
function nothingReadAt(version: string) {
  return {
    version,
    seedRows: [] as EntityRow[],
    neighbourRows: [] as NeighbourRow[],
    seeds: new ReadAhead<EntityRow>([], [], (r) => r.id),
    neighbours: new ReadAhead<NeighbourRow>([], [], (r) => r.src),
  };
}

/** Rows read ahead for some ids: a question about those ids is answered from them, only the other ids are read. */
class ReadAhead<T> {
  private readonly asked: Set<string>;

  constructor(
    asked: string[],
    private readonly rows: T[],
    private readonly idOf: (row: T) => string,
  ) {
    this.asked = new Set(asked);
  }

  async answer(ids: string[], read: (rest: string[]) => Promise<T[]>): Promise<T[]> {
    const known = new Set(ids.filter((id) => this.asked.has(id)));
    const rest = ids.filter((id) => !known.has(id));
    const out = known.size ? this.rows.filter((r) => known.has(this.idOf(r))) : [];
    if (rest.length) out.push(...(await read(rest)));
    return out;
  }
}
