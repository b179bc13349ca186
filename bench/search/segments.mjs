// Keyword search after many small ingestion requests: every request makes a keyword-index segment, and a search
// reads every segment's version and its postings per term. Two embedded stores get the same documents, one per
// request; one merges small segments after each request (what UDS3 does), the other does not (merging switched
// off in this script only); then the same queries run against both, interleaved, in the same run.
//
// Usage: node bench/search/build.mjs && node bench/search/segments.mjs [--requests 2000] [--queries 200]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { document, queries } from './corpus.mjs';
import { fmt, percentile } from './stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const platform = await import(join(root, 'libs/platform/dist/index.js'));
const uds3lib = await import(join(root, 'libs/uds3/dist/index.js'));
const { values: args } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, queries: { type: 'string', default: '200' } } });
const REQUESTS = Number(args.requests);

async function open(label, merging) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-segments-'));
  const db = await platform.acquireDataSource({ dataDir: dir, migrations: uds3lib.UDS3_MIGRATIONS });
  const uds3 = await uds3lib.createUds3({ dataSource: db.dataSource, documents: { kind: 'postgres' }, vectors: { kind: 'pgvector' }, graph: { kind: 'postgres' }, embedder: { kind: 'hashing', dimension: 64 } });
  if (!merging) uds3.stores.metadata.mergeKeywordSegments = async () => 0;
  return { label, uds3, db, dir, ingestMs: 0, lat: [] };
}
const stores = [await open('merging small segments', true), await open('no merging', false)];
for (let i = 0; i < REQUESTS; i++) {
  const doc = document(i);
  for (const s of stores) {
    const t = performance.now();
    await s.uds3.ingest([doc]);
    s.ingestMs += performance.now() - t;
  }
  if (i % 500 === 499) process.stderr.write(`${i + 1}/${REQUESTS} requests\n`);
}
const qs = queries(Number(args.queries));
for (const q of qs.slice(0, 10)) for (const s of stores) await s.uds3.search({ query_text: q, top_k: 10, search_types: ['keyword'] }, { log: false });
for (const [i, q] of qs.entries()) {
  for (let j = 0; j < stores.length; j++) {
    const s = stores[(i + j) % stores.length]; // each store goes first equally often
    const t = performance.now();
    await s.uds3.search({ query_text: q, top_k: 10, search_types: ['keyword'] }, { log: false });
    s.lat.push(performance.now() - t);
  }
}
console.log(`\n${REQUESTS} ingestion requests of one document each, embedded PGlite, ${qs.length} keyword queries, ${new Date().toISOString()}\n`);
console.log('| store | keyword segments | ingest ms/request | keyword search p50 / p95 ms |');
console.log('|---|---|---|---|');
for (const s of stores) {
  const [{ n }] = await s.db.dataSource.query(`SELECT count(*)::int AS n FROM ds_kw_segments`);
  console.log(`| ${s.label} | ${n} | ${fmt(s.ingestMs / REQUESTS)} | ${fmt(percentile(s.lat, 50))} / ${fmt(percentile(s.lat, 95))} |`);
  await s.uds3.close();
  await s.db.release();
  rmSync(s.dir, { recursive: true, force: true });
}
