// Search benchmark: N synthetic German administrative-law chunks, ingested through UDS3, then p50/p95 latency of
// hybrid search and of each signal alone (vector, keyword, graph), measured in the same run with interleaved
// queries; and ingestion throughput (chunks/s). Stores: `embedded` (PGlite + pgvector + graph tables) and
// `distributed` (PostgreSQL server + Chroma server, started here).
//
// Usage: node bench/search/build.mjs && node bench/search/run.mjs [--n 100000] [--stores embedded,distributed] [--queries 200] [--uds3 path/to/uds3/dist/index.js]
//   [--baseline path/to/other/uds3/dist/index.js] [--embedded-dir DIR] [--warmup 0]
//   [--same-queries] [--distributed-keep NAME] [--baseline-first] [--wait-ready]
//   [--embedded-vectors worker|main|both] [--embedded-metadata main|worker|both] [--platform path/to/other/platform/dist/index.js]
// The corpus and the queries come from ./corpus.mjs (shared with segments.mjs).
// Needs: local PostgreSQL (TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test) for `distributed`.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const { values: args } = parseArgs({
  options: {
    // another build of @clara/platform (its dist/index.js): how the stores are reached, e.g. the embedded engine
    // over its socket as before in-memory connections; a separate run, since one engine cannot serve both
    platform: { type: 'string', default: join(root, 'libs/platform/dist/index.js') },
    n: { type: 'string', default: '100000' },
    stores: { type: 'string', default: 'embedded,distributed' },
    queries: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '0' },
    batch: { type: 'string', default: '1000' },
    // another build of @clara/uds3 (its dist/index.js), e.g. the previous commit's, for a same-machine baseline
    uds3: { type: 'string', default: join(root, 'libs/uds3/dist/index.js') },
    // a second build measured on the same loaded stores, query by query alternating with the first
    baseline: { type: 'string' },
    // keep the embedded PGlite data here; a directory that already holds the N documents is queried without
    // ingesting again (the corpus is deterministic), so query changes can be measured without a 15-minute load
    'embedded-dir': { type: 'string' },
    // where the embedded default keeps vectors: `worker` (a second PGlite in a worker thread, as the datasets
    // service does), `main` (in the metadata database, as before) or `both` (compared in the same run)
    'embedded-vectors': { type: 'string', default: 'worker' },
    // which thread runs the metadata PGlite: `main` (as the datasets service does), `worker`, or `both` (compared
    // in the same run; the worker's database is a copy of the loaded directory, made once)
    'embedded-metadata': { type: 'string', default: 'main' },
    // keep the distributed stores between runs: database clara_bench_keep_NAME and a Chroma directory in the temp
    // directory; a database that already holds the N documents is queried without ingesting again
    'distributed-keep': { type: 'string' },
    // every mode and build runs the same queries in turn (the earlier sessions' protocol; see runOne)
    'same-queries': { type: 'boolean', default: false },
    // the baseline build is created first and goes first in the warm-up (and ingests, when the stores are empty):
    // right after start the first build measured a slower hybrid tail than the second even when both were the same
    // code (bench/README.md, ninth session), so an A/B runs in both orders
    'baseline-first': { type: 'boolean', default: false },
    // wait for each build's start-up warm-up of the search caches (keyword segments held, graph caches filled) before
    // the first search, as a deployment does that routes searches to the service once it reports ready (GET /ready)
    'wait-ready': { type: 'boolean', default: false },
    // run the Chroma server on these CPUs only (`taskset -c`, e.g. `1`), as a host or pod of its own would; run this
    // process with `taskset -c 0` beside it (bench/README.md, twelfth session)
    'chroma-cpus': { type: 'string' },
  },
});
const platform = await import(args.platform);
const testing = await import(join(dirname(args.platform), 'testing.js'));
const uds3lib = await import(args.uds3);
const baselineLib = args.baseline ? await import(args.baseline) : undefined;
const N = Number(args.n);
const QUERIES = Number(args.queries);
const WARMUP = Number(args.warmup);
const BATCH = Number(args.batch);
const SAME_QUERIES = args['same-queries'];

import { document, queries } from './corpus.mjs';
import { fmt, mean, percentile } from './stats.mjs';

// ---- helpers -------------------------------------------------------------------------------------------------
async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => res(port));
    });
  });
}

async function startChroma(keepDir) {
  const port = await freePort();
  const dir = keepDir ?? mkdtempSync(join(tmpdir(), 'bench-chroma-'));
  const chroma = [join(root, 'node_modules/.bin/chroma'), 'run', '--path', dir, '--port', String(port), '--host', '127.0.0.1'];
  const cpus = args['chroma-cpus'];
  const child = spawn(cpus ? 'taskset' : chroma[0], cpus ? ['-c', cpus, ...chroma] : chroma.slice(1), { detached: true, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${url}/api/v2/heartbeat`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    stop: async () => {
      try {
        process.kill(-child.pid, 'SIGTERM'); // the server's own process group
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 500));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A database of the local server kept between runs (created when missing), for `--distributed-keep`. */
async function keptDatabase(name) {
  const admin = new pg.Client({ connectionString: testing.TEST_POSTGRES_URL });
  await admin.connect();
  try {
    const found = await admin.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [name]);
    if (!found.rowCount) await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(testing.TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => {} };
}

/**
 * Ingests with the first of `builds` (unless `loaded`), then measures every build on the same stores, query by
 * query in turn, so the builds share the machine's state (caches, load) and the comparison is fair.
 */
async function runOne(name, builds, loaded = false) {
  const [{ uds3 }] = builds;
  const t0 = performance.now();
  let chunks = 0;
  for (let i = 0; i < N; i += BATCH) {
    const docs = [];
    for (let k = i; k < Math.min(N, i + BATCH); k++) docs.push(document(k));
    if (loaded) continue; // the documents are generated anyway: the queries come after them in the random sequence
    const out = await uds3.ingest(docs);
    chunks += out.chunk_count;
    if ((i / BATCH) % 10 === 0) process.stderr.write(`  ${name}: ${i + docs.length}/${N} documents, ${fmt((performance.now() - t0) / 1000)} s\n`);
  }
  const ingestSec = (performance.now() - t0) / 1000;
  if (loaded) chunks = (await uds3.statistics()).total_chunks ?? N;
  const modes = {
    hybrid: ['vector', 'graph', 'keyword'],
    vector: ['vector'],
    keyword: ['keyword'],
    graph: ['graph'],
  };
  const modeNames = Object.keys(modes);
  // Each mode (and build) gets queries of its own by default, all drawn from one distribution, so each measured
  // search meets its query for the first time. With --same-queries every mode runs the same query in turn, as the
  // earlier sessions did; the second run of a query then finds its pages and postings warm, which favoured vector
  // search alone (after the hybrid of the same query in 3 of 4 rotations) over the hybrid (its vector part first in
  // 3 of 4).
  const slots = SAME_QUERIES ? 1 : builds.length * modeNames.length;
  const qs = queries(QUERIES * slots);
  // further queries from the same distribution, not measured: `--warmup 500` shows the steady state, once the
  // keyword cache holds the common terms (the measured queries are the same either way)
  const warm = queries(WARMUP);
  const first = SAME_QUERIES ? qs.slice(0, 10) : queries(10);
  const runs = builds.map(() => ({
    lat: Object.fromEntries(Object.keys(modes).map((m) => [m, []])),
    // CPU time of this process (every thread: the main one and the embedded engines' workers) per search
    cpu: Object.fromEntries(Object.keys(modes).map((m) => [m, []])),
    fusion: [],
    // each signal's own time inside the hybrid queries (they run concurrently there)
    inHybrid: { vector: [], keyword: [], graph: [] },
  }));
  if (args['wait-ready']) await Promise.all(builds.map((b) => b.uds3.warmUp ?? b.uds3.keywordWarmUp.catch(() => 0)));
  // warm-up
  for (const b of builds) for (const q of first) for (const types of Object.values(modes)) await b.uds3.search({ query_text: q, top_k: 10, search_types: types }, { log: false });
  for (const b of builds) for (const q of warm) await b.uds3.search({ query_text: q, top_k: 10 }, { log: false });
  for (let qi = 0; qi < QUERIES; qi++) {
    // the first build to run a query finds its pages colder: every build goes first equally often
    for (let j = 0; j < builds.length; j++) {
      const i = (qi + j) % builds.length;
      const b = builds[i];
      const run = runs[i];
      // likewise every mode goes first equally often (the first finds the query's postings and pages cold)
      const order = Object.entries(modes);
      for (const [mode, types] of [...order.slice(qi % order.length), ...order.slice(0, qi % order.length)]) {
        const q = qs[SAME_QUERIES ? qi : (qi * builds.length + i) * modeNames.length + modeNames.indexOf(mode)];
        const t = performance.now();
        const cpu = process.cpuUsage();
        const out = await b.uds3.search({ query_text: q, top_k: 10, search_types: types }, { log: false });
        run.lat[mode].push(performance.now() - t);
        const used = process.cpuUsage(cpu);
        run.cpu[mode].push((used.user + used.system) / 1000);
        if (mode === 'hybrid') {
          run.fusion.push(out.timings_ms.fusion);
          for (const s of Object.keys(run.inHybrid)) run.inHybrid[s].push(out.timings_ms[s]);
        }
      }
    }
  }
  return builds.map((b, i) => {
    const { lat, cpu, fusion, inHybrid } = runs[i];
    const row = { stores: builds.length > 1 ? `${name}, ${b.label}` : name, chunks, ingest_s: ingestSec, chunks_per_s: loaded || i > 0 ? NaN : chunks / ingestSec };
    for (const m of Object.keys(modes)) Object.assign(row, { [`${m}_p50`]: percentile(lat[m], 50), [`${m}_p95`]: percentile(lat[m], 95) });
    for (const m of Object.keys(modes)) Object.assign(row, { [`${m}_mean`]: mean(lat[m]), [`${m}_cpu`]: mean(cpu[m]) });
    row.fusion_p50 = percentile(fusion, 50);
    row.fusion_p95 = percentile(fusion, 95);
    for (const t of Object.keys(inHybrid)) Object.assign(row, { [`in_hybrid_${t}_p50`]: percentile(inHybrid[t], 50), [`in_hybrid_${t}_p95`]: percentile(inHybrid[t], 95) });
    return row;
  });
}

const options = { chunk: { maxTokens: 256, overlapTokens: 32 } };
/** This build, and the baseline build when one is named, over the same data source and stores. */
async function createBuilds(config) {
  const order = [{ label: 'this build', lib: uds3lib }];
  if (baselineLib) order[args['baseline-first'] ? 'unshift' : 'push']({ label: 'baseline build', lib: baselineLib });
  const builds = [];
  for (const { label, lib } of order) builds.push({ label, uds3: await lib.createUds3(config) });
  return builds;
}
const closeBuilds = (builds) => Promise.all(builds.map((b) => b.uds3.close()));
const rows = [];
for (const stores of args.stores.split(',')) {
  process.stderr.write(`${stores}: ingesting ${N} documents\n`);
  if (stores === 'embedded') {
    const keep = args['embedded-dir'];
    const dir = keep ?? mkdtempSync(join(tmpdir(), 'bench-pglite-'));
    const db = await platform.acquireDataSource({ dataDir: dir, migrations: uds3lib.UDS3_MIGRATIONS, embeddedThread: args['embedded-metadata'] === 'worker' ? 'worker' : 'main' });
    let metaCopy;
    if (args['embedded-metadata'] === 'both') {
      if (!existsSync(`${dir}.metadata-copy`)) {
        if (!existsSync(join(dir, 'PG_VERSION'))) throw new Error('--embedded-metadata both needs an --embedded-dir loaded before');
        cpSync(dir, `${dir}.metadata-copy`, { recursive: true });
      }
      metaCopy = await platform.acquireDataSource({ dataDir: `${dir}.metadata-copy`, embeddedThread: 'worker' });
    }
    // as the datasets service does: vectors in a second PGlite in a worker thread (a build that predates this
    // ignores `dataSource` and reads vectors from the metadata database, where an older directory still has them)
    const layout = args['embedded-vectors'];
    const vectorsDb = layout !== 'main' ? await platform.acquireDataSource({ dataDir: `${dir}.vectors`, embeddedThread: 'worker' }) : undefined;
    const [{ n: present }] = await db.dataSource.query(`SELECT count(*)::int AS n FROM ds_documents`);
    const config = { dataSource: db.dataSource, documents: { kind: 'postgres' }, vectors: { kind: 'pgvector', dataSource: vectorsDb?.dataSource }, graph: { kind: 'postgres' }, embedder: { kind: 'hashing', dimension: 384 }, options };
    // `both`: this build twice on the same data, vectors in the worker PGlite and beside the metadata (a directory
    // loaded before vectors moved out still has them there), query by query in turn
    const builds = metaCopy
      ? [
          { label: 'metadata PGlite on the main thread', uds3: await uds3lib.createUds3(config) },
          { label: 'metadata PGlite in a worker', uds3: await uds3lib.createUds3({ ...config, dataSource: metaCopy.dataSource }) },
        ]
      : layout === 'both'
        ? [
            { label: 'vectors in a worker PGlite', uds3: await uds3lib.createUds3(config) },
            { label: 'vectors beside the metadata', uds3: await uds3lib.createUds3({ ...config, vectors: { kind: 'pgvector' } }) },
          ]
        : await createBuilds(config);
    try {
      const name = layout === 'both' || metaCopy ? 'embedded (PGlite)' : `embedded (PGlite, vectors ${vectorsDb ? 'in a worker PGlite' : 'beside the metadata'})`;
      rows.push(...(await runOne(name, builds, present >= N)));
    } finally {
      await closeBuilds(builds);
      await vectorsDb?.release();
      await metaCopy?.release();
      await db.release();
      if (!keep) for (const d of [dir, `${dir}.vectors`]) rmSync(d, { recursive: true, force: true });
    }
  } else if (stores === 'distributed') {
    const keep = args['distributed-keep']?.replace(/\W/g, '_');
    const database = keep ? await keptDatabase(`clara_bench_keep_${keep}`) : await testing.createTestDatabase('bench_search');
    const chroma = await startChroma(keep ? join(tmpdir(), `bench-chroma-keep-${keep}`) : undefined);
    const db = await platform.acquireDataSource({ url: database.url, migrations: uds3lib.UDS3_MIGRATIONS, poolMax: 8 });
    const [{ n: present }] = await db.dataSource.query(`SELECT count(*)::int AS n FROM ds_documents`);
    const builds = await createBuilds({ dataSource: db.dataSource, documents: { kind: 'postgres' }, vectors: { kind: 'chroma', url: chroma.url, collection: 'bench' }, graph: { kind: 'postgres' }, embedder: { kind: 'hashing', dimension: 384 }, options });
    try {
      rows.push(...(await runOne('distributed (PostgreSQL 15 + Chroma)', builds, present >= N)));
    } finally {
      await closeBuilds(builds);
      await db.release();
      await chroma.stop();
      await database.drop();
    }
  }
}

console.log(`\nN = ${N} documents, ${QUERIES} queries per mode (${SAME_QUERIES ? "the same queries in every mode and build" : "queries of its own for each mode and build"}), ${WARMUP} extra warm-up queries, top_k 10, hashing-embedder 384-d, ${new Date().toISOString()}\n`);
console.log('| stores | chunks | ingest chunks/s | hybrid p50/p95 ms | vector p50/p95 | keyword p50/p95 | graph p50/p95 | fusion step p50/p95 |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.stores} | ${r.chunks} | ${!Number.isNaN(r.chunks_per_s) ? fmt(r.chunks_per_s) : '(not ingested by this build)'} | ${fmt(r.hybrid_p50)} / ${fmt(r.hybrid_p95)} | ${fmt(r.vector_p50)} / ${fmt(r.vector_p95)} | ` +
      `${fmt(r.keyword_p50)} / ${fmt(r.keyword_p95)} | ${fmt(r.graph_p50)} / ${fmt(r.graph_p95)} | ${fmt(r.fusion_p50)} / ${fmt(r.fusion_p95)} |`,
  );
}
console.log('\nThe goal "fusion adds at most 30 % over the slowest single signal", hybrid against each signal run alone:\n');
for (const r of rows) {
  const over = (p) => {
    const [signal, slowest] = ['vector', 'keyword', 'graph'].map((m) => [m, r[`${m}_${p}`]]).sort((a, b) => b[1] - a[1])[0];
    return `${p} ${fmt(r[`hybrid_${p}`])} ms against ${signal} ${fmt(slowest)} ms (${r[`hybrid_${p}`] >= slowest ? '+' : ''}${fmt((r[`hybrid_${p}`] / slowest - 1) * 100)} %)`;
  };
  console.log(`- ${r.stores}: ${over('p50')}; ${over('p95')}`);
}
console.log('\nMean wall time and CPU time per search (CPU of this process, all its threads; the distributed stores\' servers run in other processes, not counted):\n');
console.log('| stores | hybrid wall / CPU ms | vector | keyword | graph |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.stores} | ${['hybrid', 'vector', 'keyword', 'graph'].map((m) => `${fmt(r[`${m}_mean`])} / ${fmt(r[`${m}_cpu`])}`).join(' | ')} |`);
console.log('\nInside the hybrid queries (signals run concurrently; each time is from its start to its result):\n');
console.log('| stores | vector p50/p95 | keyword p50/p95 | graph p50/p95 |');
console.log('|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.stores} | ${['vector', 'keyword', 'graph'].map((t) => `${fmt(r[`in_hybrid_${t}_p50`])} / ${fmt(r[`in_hybrid_${t}_p95`])}`).join(' | ')} |`);
}
console.log('\n' + JSON.stringify(rows));
