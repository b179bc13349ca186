/**
 * UDS3: the dataset system's use cases over the configured stores — ingestion, hybrid search, statistics,
 * versions (freeze, diff, lineage). Apps stay thin: they validate transport details and call these.
 */
import { createHash } from 'node:crypto';
import type { Embedder } from './embed/embedder.js';
import { Uds3InputError, Uds3NotFoundError } from './errors.js';
import type { Chunk, DocumentInput, GraphEdge, GraphNode, IndexedChunk, InstructionPair, ScoredId, SearchFilter, SearchType, StoredDocument } from './model.js';
import { estimatedJaccard, lshBands, minhash } from './quality/minhash.js';
import { DEFAULT_QUALITY_RULES, scoreQuality, withNearDuplicate, type QualityRules } from './quality/quality.js';
import { fuse } from './search/fusion.js';
import { parseFilter, parseSearchRequest, type SearchQuery } from './search/request.js';
import type { DocumentStore, GraphStore, VectorStore } from './stores/interfaces.js';
import type { DocumentBatchEntry, HydratedChunk, PgMetadataStore, VersionRow } from './stores/postgres/pg-metadata-store.js';
import { PgGraphStore } from './stores/postgres/pg-graph-store.js';
import { chunkText, type ChunkOptions } from './text/chunker.js';
import { entityNodeId, extractCitations, extractKeywords, queryKeywords } from './text/entities.js';
import type { TokenCounter } from './text/tokens.js';

export interface Uds3Stores {
  metadata: PgMetadataStore;
  documents: DocumentStore;
  vectors: VectorStore;
  graph: GraphStore;
}

export interface Uds3Options {
  chunk: ChunkOptions;
  quality: QualityRules;
  /** Nodes with more edges are not walked through by graph search. */
  graphMaxFanout: number;
  /** Largest batch one ingestion call accepts. */
  maxDocumentsPerBatch: number;
}

export const DEFAULT_UDS3_OPTIONS: Uds3Options = {
  chunk: { maxTokens: 256, overlapTokens: 32 },
  quality: DEFAULT_QUALITY_RULES,
  graphMaxFanout: 500,
  maxDocumentsPerBatch: 10_000,
};

export interface SearchResult {
  document_id: string;
  chunk_id: string;
  title: string;
  content: string;
  score: number;
  scores: Record<SearchType, number>;
  quality_score: number;
  domain: string;
  document_type: string;
  token_count: number;
}

export interface SearchOutcome {
  query: SearchQuery;
  results: SearchResult[];
  statistics: {
    total_documents: number;
    total_chunks: number;
    avg_quality_score: number;
    avg_relevance_score: number;
    total_tokens: number;
    domains: Record<string, number>;
    document_types: Record<string, number>;
  };
  timings_ms: Partial<Record<SearchType | 'fusion' | 'total', number>>;
}

export interface IngestOutcome {
  document_ids: string[];
  chunk_count: number;
  token_count: number;
  near_duplicates: { id: string; duplicate_of: string; similarity: number }[];
  quality: { id: string; score: number }[];
}

export interface CreateVersionInput {
  dataset: string;
  description?: string;
  query?: Record<string, unknown>;
  filters?: unknown;
  min_quality_score?: unknown;
  chunk_ids?: unknown;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const round3 = (x: number) => Math.round(x * 1000) / 1000;
export const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class Uds3 {
  constructor(
    readonly stores: Uds3Stores,
    readonly embedder: Embedder,
    readonly tokens: TokenCounter,
    readonly options: Uds3Options = DEFAULT_UDS3_OPTIONS,
    private readonly upkeep?: { noteWrites(chunks: number): Promise<void> },
  ) {}

  /**
   * The keyword cache's warm-up, started by `init` and run beside searches: the bytes of postings it cached, or why
   * it failed (searches then read those postings as they need them). Later, the refresh after writes.
   */
  keywordWarmUp: Promise<number> = Promise.resolve(0);
  private closing = false;
  /**
   * The start-up warm-up of the search caches: the keyword cache (`keywordWarmUp`), then the graph store's caches.
   * Resolves once both have ended, done or failed (searches then read what they need as they go).
   */
  warmUp: Promise<void> = Promise.resolve();
  /** The graph store's part of `warmUp`: how many entity nodes it read, or why it failed. */
  graphWarmUp: Promise<number> = Promise.resolve(0);
  private warmedUp = false;

  /**
   * Whether the start-up warm-up has ended (see `warmUp`). Until then searches work, but read what the warm-up is
   * loading and compete with it: a deployment routes searches to the service once this is true (GET /ready).
   */
  get warm(): boolean {
    return this.warmedUp;
  }

  async init(): Promise<void> {
    await this.stores.documents.init();
    await this.stores.vectors.init(this.embedder.dimension);
    await this.stores.graph.init();
    await this.stores.metadata.warmChunkIds();
    this.keywordWarmUp = this.stores.metadata.warmPostings(() => this.closing);
    this.keywordWarmUp.catch(() => {}); // reported to whoever awaits it; not an unhandled rejection meanwhile
    // the graph's after the keyword one: one at a time beside the first searches
    const { graph } = this.stores;
    this.graphWarmUp = this.keywordWarmUp
      .catch(() => 0)
      .then(() => (this.closing || !graph.warmCaches ? 0 : graph.warmCaches(this.options.graphMaxFanout, () => this.closing)));
    this.graphWarmUp.catch(() => {});
    this.warmUp = Promise.allSettled([this.keywordWarmUp, this.graphWarmUp]).then(() => {
      this.warmedUp = true;
    });
  }

  /**
   * After writes, in the background: segments that are new or were rebuilt are held whole again (see
   * `PgMetadataStore.holdSegments`); one refresh at a time, after the warm-up, and `close` waits for it.
   */
  private refreshKeywordSegments(): void {
    this.keywordWarmUp = this.keywordWarmUp.catch(() => 0).then(() => (this.closing ? 0 : this.stores.metadata.holdSegments(() => this.closing)));
    this.keywordWarmUp.catch(() => {});
  }

  async close(): Promise<void> {
    this.closing = true;
    // their statements must end before the caller releases the database
    await Promise.allSettled([this.keywordWarmUp, this.graphWarmUp]);
    await Promise.allSettled([this.stores.documents.close(), this.stores.vectors.close(), this.stores.graph.close(), this.embedder.close?.()]);
  }

  // ---- ingestion ------------------------------------------------------------------------------------------

  /**
   * Ingests a batch all-or-nothing. Everything that can fail on the input (validation, chunking, quality,
   * embedding) runs before the first write; the other stores are written first (concurrently) and the
   * PostgreSQL metadata (the source of truth search joins against) is committed last; any failure removes
   * the batch from every store again.
   */
  async ingest(inputs: DocumentInput[]): Promise<IngestOutcome> {
    if (inputs.length === 0) throw new Uds3InputError('documents', 'must contain at least one document');
    if (inputs.length > this.options.maxDocumentsPerBatch) {
      throw new Uds3InputError('documents', `at most ${this.options.maxDocumentsPerBatch} documents per request`);
    }
    const batch: DocumentBatchEntry[] = [];
    const seen = new Map<string, number>();
    const nearDuplicates: IngestOutcome['near_duplicates'] = [];
    for (const [i, input] of inputs.entries()) {
      const entry = this.prepare(input);
      if (seen.has(entry.doc.id)) throw new Uds3InputError(`documents[${i}].id`, `duplicates documents[${seen.get(entry.doc.id)}] in this batch`);
      seen.set(entry.doc.id, i);
      if (entry.chunks.length === 0) throw new Uds3InputError(`documents[${i}].content`, 'has no tokens');
      batch.push(entry);
    }
    await this.markNearDuplicates(batch, nearDuplicates);

    const chunks: IndexedChunk[] = batch.flatMap(({ doc, chunks }) =>
      chunks.map((c) => ({
        ...c,
        title: doc.title,
        domain: doc.domain,
        document_type: doc.document_type,
        source: doc.source,
        language: doc.language,
        quality_score: doc.quality.score,
      })),
    );
    const embeddings = await this.embedder.embed(chunks.map((c) => (c.seq === 0 ? `${c.title}\n${c.content}` : c.content)));
    const { nodes, edges } = buildGraph(batch);
    const ids = batch.map((b) => b.doc.id);

    // replaced documents lose their old chunks' vectors and graph nodes first
    const replaced = await this.stores.metadata.existingDocumentIds(ids);
    try {
      const writes = await Promise.allSettled([
        this.stores.documents.putMany(batch.map((b) => b.doc)),
        (async () => {
          if (replaced.length) await this.stores.vectors.deleteByDocuments(replaced);
          await this.stores.vectors.upsert(chunks.map((chunk, i) => ({ chunk, embedding: embeddings[i] })));
        })(),
        (async () => {
          if (replaced.length) await this.stores.graph.deleteDocuments(replaced);
          await this.stores.graph.upsert(nodes, edges);
        })(),
      ]);
      const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected');
      if (failed) throw failed.reason;
      await this.stores.metadata.transaction((em) => this.stores.metadata.writeDocuments(em, batch));
    } catch (err) {
      await this.removeFromStores(ids);
      throw err;
    }
    await this.upkeep?.noteWrites(chunks.length);
    this.refreshKeywordSegments();
    return {
      document_ids: ids,
      chunk_count: chunks.length,
      token_count: batch.reduce((s, b) => s + b.doc.token_count, 0),
      near_duplicates: nearDuplicates,
      quality: batch.map((b) => ({ id: b.doc.id, score: b.doc.quality.score })),
    };
  }

  private prepare(input: DocumentInput): DocumentBatchEntry {
    const content = input.content;
    const id = input.id ?? `doc_${sha256(`${input.title}\n${content}`).slice(0, 24)}`;
    const tokenCount = this.tokens.count(content);
    const quality = scoreQuality(content, tokenCount, input.language, this.options.quality);
    const language = input.language ?? quality.signals.language.detected;
    const doc: StoredDocument = {
      id,
      title: input.title,
      content,
      domain: input.domain ?? 'general',
      document_type: input.document_type ?? 'document',
      source: input.source ?? 'api',
      language,
      metadata: input.metadata ?? {},
      content_hash: sha256(content),
      token_count: tokenCount,
      quality,
      pair: instructionPair(input),
    };
    const chunks: Chunk[] = chunkText(content, this.tokens, this.options.chunk).map((c) => ({
      id: `${id}#${c.seq}`,
      document_id: id,
      seq: c.seq,
      content: c.content,
      token_count: c.tokenCount,
      content_hash: sha256(c.content),
    }));
    const signature = minhash(content);
    return { doc, chunks, minhash: signature, bands: lshBands(signature) };
  }

  /** MinHash LSH against stored documents and earlier documents of the same batch. */
  private async markNearDuplicates(batch: DocumentBatchEntry[], out: IngestOutcome['near_duplicates']): Promise<void> {
    const ids = batch.map((b) => b.doc.id);
    const stored = await this.stores.metadata.lshCandidates([...new Set(batch.flatMap((b) => b.bands))], ids);
    const rules = this.options.quality;
    batch.forEach((entry, i) => {
      const bands = new Set(entry.bands);
      const candidates = [
        ...stored,
        ...batch.slice(0, i).filter((b) => b.bands.some((x) => bands.has(x))).map((b) => ({ id: b.doc.id, minhash: b.minhash })),
      ];
      let best: { id: string; similarity: number } | undefined;
      for (const c of candidates) {
        const similarity = estimatedJaccard(entry.minhash, c.minhash);
        if (similarity >= rules.duplicateThreshold && (!best || similarity > best.similarity)) best = { id: c.id, similarity };
      }
      if (best) {
        entry.doc.quality = withNearDuplicate(entry.doc.quality, best.id, best.similarity, rules);
        out.push({ id: entry.doc.id, duplicate_of: best.id, similarity: round3(best.similarity) });
      }
    });
  }

  private async removeFromStores(ids: string[]): Promise<void> {
    await Promise.allSettled([
      this.stores.documents.deleteMany(ids),
      this.stores.vectors.deleteByDocuments(ids),
      this.stores.graph.deleteDocuments(ids),
    ]);
  }

  async deleteDocuments(ids: string[]): Promise<number> {
    const deleted = await this.stores.metadata.deleteDocuments(ids);
    await this.removeFromStores(ids);
    if (deleted) this.refreshKeywordSegments();
    return deleted;
  }

  async getDocument(id: string) {
    const row = await this.stores.metadata.getDocumentRow(id);
    if (!row) throw new Uds3NotFoundError(`document ${id} not found`);
    const [body] = await this.stores.documents.getMany([id]);
    return { ...row, content: body?.content ?? null, chunks: await this.stores.metadata.listChunks(id) };
  }

  // ---- search ---------------------------------------------------------------------------------------------

  async search(body: unknown, options: { maxTopK?: number; log?: boolean } = {}): Promise<SearchOutcome> {
    const query = parseSearchRequest(body, { maxTopK: options.maxTopK });
    return this.runSearch(query, options.log ?? true);
  }

  /** Whether the graph store keeps its tables in the metadata store's database (and so reads its version there). */
  private graphBesideMetadata(): boolean {
    const { graph, metadata } = this.stores;
    return graph instanceof PgGraphStore && graph.dataSource === metadata.dataSource;
  }

  async runSearch(query: SearchQuery, log = true): Promise<SearchOutcome> {
    const started = performance.now();
    const pool = Math.min(Math.max(query.topK * 3, 50), Math.max(query.topK, 2000));
    const timings: SearchOutcome['timings_ms'] = {};
    const timed = async <T>(name: SearchType, work: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const r = await work();
      timings[name] = round3(performance.now() - t0);
      return r;
    };
    const lists: Partial<Record<SearchType, ScoredId[]>> = {};
    // The other signals' statements go out first, then (a turn of the event loop later) the vector request: the
    // database does its share of those short statements as the vector store begins its longer work, instead of waking
    // in the middle of it. On two cores the other order measured 2–3 points worse at p50 and 3–10 at p95, as the
    // hybrid search over vector search alone (bench/README.md, eleventh session).
    const vector = query.types.includes('vector')
      ? timed('vector', async () => {
          if (query.types.length > 1) await new Promise((resolve) => setImmediate(resolve));
          const [q] = await this.embedder.embed([query.queryText]);
          lists.vector = await this.stores.vectors.query(q, pool, query.filter);
        })
      : undefined;
    // Graph tables in the metadata database: the keyword search's first statement reads the graph's version too, and
    // a walk whose caches hold everything it needs then runs no statement of its own.
    let settleGraphVersion: (version: string | undefined) => void = () => {};
    const graphVersion =
      query.types.includes('keyword') && query.types.includes('graph') && this.graphBesideMetadata()
        ? new Promise<string | undefined>((resolve) => (settleGraphVersion = resolve))
        : undefined;
    await Promise.all([
      vector,
      ...query.types.map(async (type) => {
        if (type === 'keyword') {
          lists.keyword = await timed('keyword', () =>
            this.stores.metadata
              .keywordSearch(query.queryText, pool, query.filter, graphVersion ? settleGraphVersion : undefined)
              .finally(() => settleGraphVersion(undefined)),
          );
        } else if (type === 'graph') {
          lists.graph = await timed('graph', () =>
            this.stores.graph.expand(queryEntities(query.queryText), query.graphHops, pool, this.options.graphMaxFanout, graphVersion),
          );
        }
      }),
    ]);
    const t0 = performance.now();
    const { fused, rows } = await this.fuseExisting(lists, query);
    const results: SearchResult[] = fused.map((f) => {
      const r = rows.get(f.chunk_id)!;
      return {
        document_id: r.document_id,
        chunk_id: r.id,
        title: r.title,
        content: r.content!,
        score: round3(f.score),
        scores: { vector: round3(f.scores.vector), graph: round3(f.scores.graph), keyword: round3(f.scores.keyword) },
        quality_score: r.quality_score,
        domain: r.domain,
        document_type: r.document_type,
        token_count: r.token_count,
      };
    });
    timings.fusion = round3(performance.now() - t0);
    timings.total = round3(performance.now() - started);
    const statistics = summarise(results);
    if (log) await this.stores.metadata.logSearch(query.queryText, results.length, results.length ? statistics.avg_relevance_score : null);
    return { query, results, statistics, timings_ms: timings };
  }

  /**
   * Fusion over the chunks that exist and pass the filter (the metadata store decides both; graph hits are not
   * filtered in the walk), with the rows of the top k.
   *
   * Weighted fusion without a filter checks only what can change the answer: the top k, and each signal's best hit
   * (every score of that signal is divided by it). A hit that does not exist is dropped and fusion runs again;
   * the check repeats for whatever became top k or best. Other hits need no check: dropping one that ranks below
   * the top k changes no other score. A filter may reject many hits, and in reciprocal rank fusion every hit moves
   * the ranks below it, so there one round trip checks every candidate and reads the rows of the top k fused as if
   * all passed; only if some failed is fusion run again, and a second round trip reads the rows of whatever that
   * brought into the top k.
   */
  private async fuseExisting(lists: Partial<Record<SearchType, ScoredId[]>>, query: SearchQuery) {
    if (query.fusion === 'weighted' && Object.keys(query.filter).length === 0) return this.fuseCheckingTop(lists, query);
    const ids = [...new Set(Object.values(lists).flatMap((l) => l.map((h) => h.chunk_id)))];
    let fused = fuse(lists, query.weights, query.fusion, query.topK);
    if (!ids.length) return { fused, rows: new Map<string, HydratedChunk>() };
    const { passing, rows } = await this.stores.metadata.candidates(ids, query.filter, fused.map((f) => f.chunk_id));
    if (passing.size < ids.length) {
      for (const t of Object.keys(lists) as SearchType[]) lists[t] = lists[t]!.filter((h) => passing.has(h.chunk_id));
      fused = fuse(lists, query.weights, query.fusion, query.topK);
    }
    const unread = fused.filter((f) => !rows.has(f.chunk_id)).map((f) => f.chunk_id);
    if (unread.length) {
      for (const [id, row] of await this.stores.metadata.hydrate(unread, {}, unread)) rows.set(id, row);
      fused = fused.filter((f) => rows.has(f.chunk_id)); // deleted in between
    }
    return { fused, rows };
  }

  /** See fuseExisting: weighted fusion, no filter. */
  private async fuseCheckingTop(lists: Partial<Record<SearchType, ScoredId[]>>, query: SearchQuery) {
    const rows = new Map<string, HydratedChunk>();
    const exists = new Set<string>();
    for (;;) {
      const fused = fuse(lists, query.weights, query.fusion, query.topK);
      const unread = fused.filter((f) => !rows.has(f.chunk_id)).map((f) => f.chunk_id);
      // A signal's best score stands while one chunk with that score exists: one is asked for at a time (graph
      // scores tie often: asking for every tied chunk read three times the rows).
      const best = Object.values(lists).flatMap((l) => {
        const max = Math.max(...l.map((h) => h.score));
        const tied = l.filter((h) => h.score === max);
        return tied.some((h) => exists.has(h.chunk_id)) ? [] : tied.slice(0, 1).map((h) => h.chunk_id);
      });
      const ask = [...new Set([...unread, ...best])];
      if (!ask.length) return { fused, rows };
      const { passing, rows: read } = await this.stores.metadata.candidates(ask, query.filter, unread);
      for (const [id, row] of read) rows.set(id, row);
      for (const id of passing) exists.add(id);
      if (passing.size === ask.length) return { fused, rows }; // nothing dropped: fusing again gives the same
      for (const t of Object.keys(lists) as SearchType[]) lists[t] = lists[t]!.filter((h) => !ask.includes(h.chunk_id) || passing.has(h.chunk_id));
    }
  }

  async statistics(filters?: unknown) {
    const stats = await this.stores.metadata.statistics(parseFilter(filters, undefined));
    return { ...stats, tokenizer: this.tokens.name, embedder: this.embedder.name };
  }

  // ---- versions -------------------------------------------------------------------------------------------

  async createVersion(input: CreateVersionInput, createdBy: string | null): Promise<{ version: VersionRow; created: boolean }> {
    if (typeof input.dataset !== 'string' || !DATASET_NAME.test(input.dataset)) {
      throw new Uds3InputError('dataset', 'must be 1-64 characters: letters, digits, . _ - (starting with a letter or digit)');
    }
    if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > 2000)) {
      throw new Uds3InputError('description', 'must be a string of at most 2000 characters');
    }
    let chunkIds: string[];
    let selection: Record<string, unknown>;
    let rows: Map<string, HydratedChunk> | undefined;
    if (input.chunk_ids !== undefined) {
      if (!Array.isArray(input.chunk_ids) || input.chunk_ids.length === 0 || input.chunk_ids.some((c) => typeof c !== 'string')) {
        throw new Uds3InputError('chunk_ids', 'must be a non-empty array of chunk ids');
      }
      chunkIds = [...new Set(input.chunk_ids as string[])];
      rows = await this.stores.metadata.hydrate(chunkIds, {});
      const missing = chunkIds.find((c) => !rows!.has(c));
      if (missing) throw new Uds3InputError('chunk_ids', `unknown chunk ${missing}`);
      selection = { chunk_ids: chunkIds.length };
    } else if (input.query !== undefined) {
      const query = parseSearchRequest(input.query, { maxTopK: 100_000 });
      const outcome = await this.runSearch(query, false);
      chunkIds = outcome.results.map((r) => r.chunk_id);
      selection = { query: input.query };
    } else {
      const filter: SearchFilter = parseFilter(input.filters, input.min_quality_score);
      chunkIds = (await this.stores.metadata.selectChunks(filter, 1_000_000)).map((c) => c.chunk_id);
      selection = { filters: input.filters ?? {}, min_quality_score: input.min_quality_score ?? null };
    }
    if (chunkIds.length === 0) throw new Uds3InputError(input.query ? 'query' : 'filters', 'selects no chunks');
    if (input.description) selection.description = input.description;

    const hashes = rows ?? (await this.stores.metadata.hydrate(chunkIds, {}));
    const manifest = chunkIds.map((id) => `${id}\t${hashes.get(id)!.content_hash}`).sort().join('\n');
    const manifestHash = sha256(manifest);
    const existing = await this.stores.metadata.findVersionByManifest(input.dataset, manifestHash);
    if (existing) return { version: existing, created: false };
    const version = await this.stores.metadata.insertVersion({
      id: sha256(`${input.dataset}\n${manifestHash}`).slice(0, 32),
      dataset: input.dataset,
      manifestHash,
      selection,
      chunkIds,
      createdBy,
    });
    return { version, created: true };
  }

  async getVersion(id: string): Promise<VersionRow> {
    const v = await this.stores.metadata.getVersion(id);
    if (!v) throw new Uds3NotFoundError(`dataset version ${id} not found`);
    return v;
  }

  async diffVersions(a: string, b: string) {
    const [va, vb] = [await this.getVersion(a), await this.getVersion(b)];
    return { from: va.id, to: vb.id, ...(await this.stores.metadata.diffVersions(va.id, vb.id)) };
  }

  async recordLineage(versionId: string, trainingJobId: unknown, relation: unknown = 'trained_on') {
    if (typeof trainingJobId !== 'string' || !/^[A-Za-z0-9._:-]{1,200}$/.test(trainingJobId)) {
      throw new Uds3InputError('training_job_id', 'must be a job id (letters, digits, . _ : -)');
    }
    if (typeof relation !== 'string' || !/^[a-z_]{1,40}$/.test(relation)) throw new Uds3InputError('relation', 'must be a lower-case word');
    const v = await this.getVersion(versionId);
    await this.stores.metadata.addLineage(v.id, trainingJobId, relation);
    return { version_id: v.id, training_job_id: trainingJobId, relation };
  }
}

function instructionPair(input: DocumentInput): InstructionPair | null {
  if (input.messages) return { messages: input.messages };
  if (input.instruction !== undefined && input.output !== undefined) {
    const user = input.input ? `${input.instruction}\n\n${input.input}` : input.instruction;
    return {
      messages: [
        { role: 'user', content: user },
        { role: 'assistant', content: input.output },
      ],
      alpaca: { instruction: input.instruction, input: input.input ?? '', output: input.output },
    };
  }
  return null;
}

/**
 * Graph seeds for a query: its legal citations and its keywords. The law code of a citation is reached one hop
 * out (cite → law → sibling citations), not seeded: seeding it would put every chunk citing that law at 2 hops.
 */
export function queryEntities(text: string): string[] {
  const seeds = new Set<string>();
  for (const c of extractCitations(text)) seeds.add(entityNodeId.citation(c.key));
  for (const w of queryKeywords(text)) seeds.add(entityNodeId.keyword(w));
  return [...seeds];
}

export function buildGraph(batch: DocumentBatchEntry[]): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const node = (id: string, kind: GraphNode['kind'], label: string) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, label });
    return id;
  };
  for (const { doc, chunks } of batch) {
    const d = node(entityNodeId.document(doc.id), 'document', doc.title);
    edges.push({ src: d, dst: node(entityNodeId.domain(doc.domain), 'domain', doc.domain), kind: 'IN_DOMAIN' });
    edges.push({ src: d, dst: node(entityNodeId.type(doc.document_type), 'type', doc.document_type), kind: 'OF_TYPE' });
    for (const c of chunks) {
      const cn = node(entityNodeId.chunk(c.id), 'chunk', `${doc.title} #${c.seq}`);
      edges.push({ src: d, dst: cn, kind: 'HAS_CHUNK' });
      for (const cite of extractCitations(c.content)) {
        const citeNode = node(entityNodeId.citation(cite.key), 'entity', cite.key);
        edges.push({ src: cn, dst: citeNode, kind: 'CITES' });
        edges.push({ src: citeNode, dst: node(entityNodeId.law(cite.law), 'law', cite.law), kind: 'PART_OF' });
      }
      for (const kw of extractKeywords(c.seq === 0 ? `${doc.title} ${c.content}` : c.content)) {
        edges.push({ src: cn, dst: node(entityNodeId.keyword(kw), 'entity', kw), kind: 'MENTIONS' });
      }
    }
  }
  const unique = new Map(edges.map((e) => [`${e.src}\u0000${e.dst}\u0000${e.kind}`, e]));
  return { nodes: [...nodes.values()], edges: [...unique.values()] };
}

function summarise(results: SearchResult[]): SearchOutcome['statistics'] {
  const docs = new Map<string, SearchResult>();
  for (const r of results) if (!docs.has(r.document_id)) docs.set(r.document_id, r);
  const count = (key: 'domain' | 'document_type') => {
    const out: Record<string, number> = {};
    for (const r of docs.values()) out[r[key]] = (out[r[key]] ?? 0) + 1;
    return out;
  };
  const mean = (xs: number[]) => (xs.length ? round3(xs.reduce((a, b) => a + b, 0) / xs.length) : 0);
  return {
    total_documents: docs.size,
    total_chunks: results.length,
    avg_quality_score: mean([...docs.values()].map((r) => r.quality_score)),
    avg_relevance_score: mean(results.map((r) => r.score)),
    total_tokens: results.reduce((s, r) => s + r.token_count, 0),
    domains: count('domain'),
    document_types: count('document_type'),
  };
}
