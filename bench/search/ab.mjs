// A/B of two builds of @clara/uds3 on the same loaded stores: several processes of run.mjs, the order in which the
// two builds are created (and warm up) alternating from run to run. Right after start the build created first used
// more CPU per hybrid search and mostly measured a slower tail, also when both builds were the same code
// (bench/README.md, ninth session), so one order alone favours the second build.
//
// Usage: node bench/search/ab.mjs --baseline other/uds3/dist/index.js [--runs 4] [any option of run.mjs]
//   e.g. --stores distributed --distributed-keep NAME --queries 300 --warmup 500
// Prints per run and build: hybrid and each signal alone (p50 / p95 ms), the fusion step, the hybrid over the
// slowest signal alone, CPU per hybrid search; then the median of each over the runs.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const runsAt = argv.indexOf('--runs');
const runs = runsAt >= 0 ? Number(argv.splice(runsAt, 2)[1]) : 4;
if (!argv.includes('--baseline')) throw new Error('ab.mjs compares two builds: give --baseline path/to/other/uds3/dist/index.js');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const signals = ['vector', 'keyword', 'graph'];
const over = (r, p) => (r[`hybrid_${p}`] / Math.max(...signals.map((s) => r[`${s}_${p}`])) - 1) * 100;
const pair = (r, m) => `${fmt(r[`${m}_p50`])} / ${fmt(r[`${m}_p95`])}`;

const results = [];
console.log('| run | created first | build | hybrid | vector | keyword | graph | fusion step | hybrid over slowest signal | CPU per hybrid |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (let run = 1; run <= runs; run++) {
  const baselineFirst = run % 2 === 0;
  const args = [join(here, 'run.mjs'), ...argv, ...(baselineFirst ? ['--baseline-first'] : [])];
  const out = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
  if (out.status !== 0) throw new Error(`run ${run}: run.mjs exited with ${out.status}`);
  const rows = JSON.parse(out.stdout.trim().split('\n').pop());
  for (const r of rows) {
    const build = r.stores.endsWith('baseline build') ? 'baseline' : 'this';
    results.push({ build, ...r });
    console.log(
      `| ${run} | ${baselineFirst ? 'baseline' : 'this'} | ${build} | ${pair(r, 'hybrid')} | ${pair(r, 'vector')} | ${pair(r, 'keyword')} | ` +
        `${pair(r, 'graph')} | ${pair(r, 'fusion')} | ${over(r, 'p50') >= 0 ? '+' : ''}${fmt(over(r, 'p50'))} / ${over(r, 'p95') >= 0 ? '+' : ''}${fmt(over(r, 'p95'))} % | ${fmt(r.hybrid_cpu)} ms |`,
    );
  }
}
console.log(`\nMedians over the ${runs} runs (p50 / p95 ms):\n`);
console.log('| build | hybrid | vector | keyword | graph | fusion step | hybrid over slowest signal | CPU per hybrid |');
console.log('|---|---|---|---|---|---|---|---|');
for (const build of ['this', 'baseline']) {
  const rs = results.filter((r) => r.build === build);
  const m = (key) => median(rs.map((r) => r[key]));
  const med = (name) => `${fmt(m(`${name}_p50`))} / ${fmt(m(`${name}_p95`))}`;
  const overs = ['p50', 'p95'].map((p) => median(rs.map((r) => over(r, p))));
  console.log(
    `| ${build} | ${['hybrid', 'vector', 'keyword', 'graph', 'fusion'].map(med).join(' | ')} | ` +
      `${overs.map((o) => `${o >= 0 ? '+' : ''}${fmt(o)}`).join(' / ')} % | ${fmt(m('hybrid_cpu'))} ms |`,
  );
}
