// bench/api: training API throughput and latency vs a bare NestJS hello-world in the same run, against the real
// PostgreSQL and NATS; then WebSocket fan-out latency to 1,000 subscribers.
//   npm run build && node bench/api/run.mjs [--duration 10] [--connections 64] [--subscribers 1000] [--client-procs 2] [--ws-only]
// Load comes from autocannon in a child process; servers run in this process.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Body, Controller, Get, Module, Post } from '@nestjs/common';
import express from 'express';
import { bootstrap } from '@clara/training';
import { createLogger, NatsBus, acquireDataSource } from '@clara/platform';
import { Subjects } from '@clara/contracts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DURATION = arg('duration', 10);
const CONNECTIONS = arg('connections', 64);
const SUBSCRIBERS = arg('subscribers', 1000);
// The subscribers are spread over this many client processes (one process parsing 1,000 sockets' messages in turn
// added its own queueing to the measured delay).
const CLIENT_PROCS = arg('client-procs', 2);
const WS_ONLY = process.argv.includes('--ws-only');
const PG = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

function autocannon(url, { method = 'GET', body } = {}) {
  const args = [join(root, 'node_modules/autocannon/autocannon.js'), '-c', String(CONNECTIONS), '-d', String(DURATION), '-j', '-m', method];
  if (body) args.push('-H', 'content-type=application/json', '-b', JSON.stringify(body));
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}`));
      const r = JSON.parse(out);
      resolve({
        rps: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        errors: r.errors + r.non2xx,
        total: r.requests.total,
      });
    });
  });
}

// --- bare NestJS hello-world (same framework, same JSON body parser) ---
class Hello {
  get() {
    return { ok: true };
  }
  post(body) {
    return { ok: true, received: Object.keys(body ?? {}).length };
  }
}
Controller('hello')(Hello);
Get()(Hello.prototype, 'get', Object.getOwnPropertyDescriptor(Hello.prototype, 'get'));
Post()(Hello.prototype, 'post', Object.getOwnPropertyDescriptor(Hello.prototype, 'post'));
Body()(Hello.prototype, 'post', 0);
class HelloModule {}
Module({ controllers: [Hello] })(HelloModule);

const admin = new pg.Client({ connectionString: PG });
await admin.connect();
const dbName = `clara_bench_${randomUUID().slice(0, 8)}`;
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = Object.assign(new URL(PG), { pathname: `/${dbName}` }).toString();
const logger = createLogger('bench', { level: 'error' });
const bus = await NatsBus.connect({ url: NATS, logger });
const db = await acquireDataSource({ url: dbUrl, logger, poolMax: 16 });
const dataDir = mkdtempSync(join(tmpdir(), 'clara-bench-'));
const api = await bootstrap({
  bus,
  db,
  logger,
  env: { DATABASE_URL: dbUrl, NATS_URL: NATS, CLARA_DATA_DIR: dataDir, CLARA_TRAINING_PORT: '0', CLARA_TRAINING_HOST: '127.0.0.1', CLARA_SECURITY_MODE: 'debug', LOG_LEVEL: 'error' },
});
const hello = await NestFactory.create(HelloModule, { bodyParser: false, logger: false });
hello.use(express.json({ limit: '1mb' }));
await hello.listen(0, '127.0.0.1');
const helloUrl = `http://127.0.0.1:${hello.getHttpServer().address().port}/hello`;

const jobBody = { trainer_type: 'lora', base_model: 'bench-model', dataset: 'dsv_bench', priority: 5, tags: ['bench'], hyperparameters: { learning_rate: 0.0002, epochs: 1 } };
const results = {};
console.error(`load average before: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores`);
if (!WS_ONLY) {
  results.helloGet = await autocannon(helloUrl);
  results.helloPost = await autocannon(helloUrl, { method: 'POST', body: jobBody });
  results.create = await autocannon(`${api.url}/api/training/jobs`, { method: 'POST', body: jobBody });
  const one = await (await fetch(`${api.url}/api/training/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(jobBody) })).json();
  results.get = await autocannon(`${api.url}/api/training/jobs/${one.job_id}`);
}
const stored = (await db.dataSource.query('SELECT count(*)::int AS n FROM training_jobs'))[0].n;

// --- WebSocket fan-out: N subscribers in child processes; events published on the bus with their publish time ---
const perProc = Array.from({ length: CLIENT_PROCS }, (_, i) => Math.floor(SUBSCRIBERS / CLIENT_PROCS) + (i < SUBSCRIBERS % CLIENT_PROCS ? 1 : 0));
const clientProcs = perProc.map((n) => fork(join(here, 'ws-clients.mjs'), [api.url.replace('http', 'ws') + '/ws/training', String(n)]));
await Promise.all(clientProcs.map((clients) => new Promise((resolve, reject) => {
  clients.on('message', (m) => (m.ready ? resolve() : m.error && reject(new Error(m.error))));
})));
// Server-side cost: time of the hub's loop that hands one event to every subscriber's socket.
const loopMs = [];
const originalOnEvent = api.hub.onEvent.bind(api.hub);
api.hub.onEvent = (e) => {
  const t0 = performance.now();
  originalOnEvent(e);
  loopMs.push(performance.now() - t0);
};
const EVENTS = 50;
const jobId = randomUUID();
for (let seq = 1; seq <= EVENTS; seq++) {
  const event = {
    event_id: 1_000_000 + seq, job_id: jobId, seq, type: 'progress', status: 'running', occurred_at: new Date().toISOString(),
    progress_percent: (100 * seq) / EVENTS, current_epoch: 1, total_epochs: 1, current_step: seq, total_steps: EVENTS, metrics: { loss: 1 / seq },
  };
  await bus.publish(Subjects.trainingJobEvent(jobId, 'progress'), event);
  await new Promise((r) => setTimeout(r, 100));
}
await new Promise((r) => setTimeout(r, 1000));
const latencies = (await Promise.all(clientProcs.map((clients) => {
  clients.send('report');
  return new Promise((resolve) => clients.on('message', (m) => m.latencies && resolve(m.latencies)));
}))).flat();
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
loopMs.sort((a, b) => a - b);
results.wsServerLoop = { p50: +loopMs[Math.floor(loopMs.length / 2)].toFixed(2), max: +loopMs.at(-1).toFixed(2) };
results.ws = { subscribers: SUBSCRIBERS, client_processes: perProc, events: EVENTS, delivered: latencies.length, expected: SUBSCRIBERS * EVENTS, p50: pct(50), p99: pct(99), max: latencies.at(-1) };

console.error(`load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(JSON.stringify({ when: new Date().toISOString(), duration_s: DURATION, connections: CONNECTIONS, jobs_stored: stored, ...results }, null, 2));
const row = (name, r) => `| ${name} | ${Math.round(r.rps)} | ${r.p50} ms | ${r.p99} ms | ${r.errors} |`;
if (!WS_ONLY) {
  console.log(['| endpoint | req/s | p50 | p99 | errors |', '|---|---|---|---|---|',
    row('bare Nest GET /hello', results.helloGet), row('bare Nest POST /hello (same JSON body)', results.helloPost),
    row('POST /api/training/jobs (create)', results.create), row('GET /api/training/jobs/{id}', results.get)].join('\n'));
  console.log(`create / bare POST throughput: ${(results.create.rps / results.helloPost.rps).toFixed(2)}; get / bare GET: ${(results.get.rps / results.helloGet.rps).toFixed(2)}`);
}
console.log(`WS fan-out to ${SUBSCRIBERS} subscribers in ${CLIENT_PROCS} client process(es) (${perProc.join(' + ')}): ${results.ws.delivered}/${results.ws.expected} delivered, p50 ${results.ws.p50} ms, p99 ${results.ws.p99} ms, max ${results.ws.max} ms (publish → received by the client process)`);
console.log(`server loop handing one event to all ${SUBSCRIBERS} sockets: p50 ${results.wsServerLoop.p50} ms, max ${results.wsServerLoop.max} ms`);

await api.close();
await hello.close();
await db.release();
await bus.close();
await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
await admin.end();
process.exit(0);
