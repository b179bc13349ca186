// Durability across a real PostgreSQL crash and restart, on a PRIVATE PostgreSQL 15 server (the shared one on
// :5432 is used by everyone else and must not be restarted): jobs accepted with 201 before the crash survive it,
// /health names the database while it is down, the API answers JSON errors meanwhile, and once the server is back
// every job (queued and running at the crash) completes with its event history whole and in order.
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap as bootstrapWorker, registerTrainer, type WorkerApp } from '@clara/training-worker';
import { NatsBus, acquireDataSource, createLogger, type SharedDataSource } from '@clara/platform';
import { TEST_NATS_URL } from '@clara/platform/testing';
import { bootstrap, type TrainingApp } from '../src/index.js';
import { http, sleep, stepTrainer, waitUntil } from './support.js';

const run = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const baseDir = mkdtempSync(join(tmpdir(), 'clara-pg-restart-'));
const pgData = join(baseDir, 'data');
const sockDir = join(baseDir, 'sock');
const dataDir = mkdtempSync(join(tmpdir(), 'clara-pg-restart-data-'));
let port = 0;
let pgRunning = false;
let shared: SharedDataSource | undefined;
let bus: NatsBus | undefined;
let api: TrainingApp | undefined;
let worker: WorkerApp | undefined;
let unregister: (() => void) | undefined;
const runs = new Map<string, number>();
const logger = createLogger('pg-restart', { level: (process.env.E2E_LOG as 'warn') ?? 'error' });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
const isRoot = process.getuid?.() === 0;
/** PostgreSQL refuses to run as root: as root its tools run as the postgres OS user. */
async function asPostgres(tool: string, args: string[]) {
  try {
    const [cmd, ...rest] = isRoot ? ['runuser', '-u', 'postgres', '--', join(PG_BIN, tool), ...args] : [join(PG_BIN, tool), ...args];
    return await run(cmd, rest, { timeout: 30_000 });
  } catch (err) {
    const log = existsSync(join(baseDir, 'log')) ? readFileSync(join(baseDir, 'log'), 'utf8').slice(-2000) : '';
    throw new Error(`${tool} ${args.join(' ')} failed: ${(err as Error).message}\n${log}`);
  }
}
async function startPostgres() {
  await asPostgres('pg_ctl', ['-D', pgData, '-l', join(baseDir, 'log'), '-o', `-p ${port} -k ${sockDir} -c listen_addresses=127.0.0.1`, '-w', '-t', '20', 'start']);
  pgRunning = true;
}
/** `-m immediate`: the server processes quit without a checkpoint, i.e. a crash; the restart replays the WAL. */
async function crashPostgres() {
  await asPostgres('pg_ctl', ['-D', pgData, '-m', 'immediate', '-w', 'stop']);
  pgRunning = false;
}

const env = () => ({
  DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
  NATS_URL: TEST_NATS_URL,
  CLARA_DATA_DIR: dataDir,
  CLARA_TRAINING_PORT: '0',
  CLARA_TRAINING_HOST: '127.0.0.1',
  CLARA_SECURITY_MODE: 'debug',
  DEBUG_USER_EMAIL: 'pg-restart@clara.local',
  DEBUG_USER_ROLES: 'admin,trainer',
  LOG_LEVEL: 'error',
  CLARA_MAX_CONCURRENT_JOBS: '1',
  CLARA_LEASE_MS: '2000',
  CLARA_SWEEP_INTERVAL_MS: '300',
  CLARA_PROGRESS_INTERVAL_MS: '0',
});

beforeAll(async () => {
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(PG_BIN, tool))) throw new Error(`this test needs PostgreSQL 15 server binaries: ${join(PG_BIN, tool)} is missing (set PG_BIN)`);
  }
  mkdirSync(sockDir);
  if (isRoot) for (const d of [baseDir, sockDir]) chownSync(d, Number((await run('id', ['-u', 'postgres'])).stdout), Number((await run('id', ['-g', 'postgres'])).stdout));
  await asPostgres('initdb', ['-D', pgData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  port = await freePort();
  await startPostgres();
  shared = await acquireDataSource({ url: env().DATABASE_URL, logger });
  bus = await NatsBus.connect({ url: TEST_NATS_URL, logger });
  unregister = registerTrainer('lora', stepTrainer({ steps: 20, stepMs: 100, checkpointEvery: 5, onRun: (id) => runs.set(id, (runs.get(id) ?? 0) + 1) }));
  api = await bootstrap({ env: env(), bus, db: shared, logger });
  worker = await bootstrapWorker({ env: env(), bus, db: shared, logger, engineTrainers: false });
}, 60_000);

afterAll(async () => {
  // The private server goes away even when the test failed half-way (and even when it is down right now).
  try {
    await worker?.close();
    await api?.close();
    await bus?.close();
    await shared?.release();
  } finally {
    unregister?.();
    if (pgRunning || existsSync(join(pgData, 'postmaster.pid'))) await asPostgres('pg_ctl', ['-D', pgData, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    rmSync(baseDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);

describe('PostgreSQL crash and restart', () => {
  it('loses no accepted job: queued and running jobs all complete with their whole event history', async () => {
    const url = api!.url;
    const body = { trainer_type: 'lora', base_model: 'tiny', dataset: 'dsv_pg_restart', hyperparameters: { max_steps: 20 } };
    const created = [];
    for (let i = 0; i < 4; i++) created.push(await http(url, 'POST', '/api/training/jobs', { ...body, priority: 10 - i }));
    expect(created.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const ids: string[] = created.map((r) => r.body.job_id);

    // Crash while the first job is mid-run (some progress recorded) and the other three wait in the queue.
    await waitUntil(async () => {
      const r = await http(url, 'GET', `/api/training/jobs/${ids[0]}`);
      return r.body.status === 'running' && r.body.current_step >= 3;
    }, 15_000, 'the first job to be running');
    for (const id of ids.slice(1)) expect((await http(url, 'GET', `/api/training/jobs/${id}`)).body.status).toBe('pending');
    await crashPostgres();

    const health = await waitUntil(async () => {
      const r = await http(url, 'GET', '/health');
      return r.status === 503 && r;
    }, 10_000, '/health to report the database');
    expect(health.body.message).toMatch(/database/);
    expect(health.body.checks.database.ok).toBe(false);
    expect(health.body.checks.bus.ok).toBe(true);
    // Requests that need the database fail cleanly, as JSON telling the client to retry; nothing is accepted.
    const get = await http(url, 'GET', `/api/training/jobs/${ids[1]}`);
    const post = await http(url, 'POST', '/api/training/jobs', body);
    for (const r of [get, post]) {
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ statusCode: 503, message: expect.stringMatching(/database/) });
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
    }
    await sleep(2500); // longer than the lease: the running job's lease expires while the database is away

    await startPostgres();
    await waitUntil(async () => (await http(url, 'GET', '/health')).status === 200, 20_000, '/health to recover');

    for (const id of ids) {
      await waitUntil(async () => {
        const r = await http(url, 'GET', `/api/training/jobs/${id}`);
        if (r.body.status === 'failed' || r.body.status === 'cancelled') throw new Error(`job ${id} ended ${r.body.status}: ${r.body.error}`);
        return r.body.status === 'completed';
      }, 30_000, `job ${id} to complete`);
    }
    const list = await http(url, 'GET', '/api/training/jobs/list?limit=100');
    expect(list.status).toBe(200);
    expect(list.body.jobs.map((j: { job_id: string }) => j.job_id).sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const r = await http(url, 'GET', `/api/training/jobs/${id}/events?after=0`);
      expect(r.status).toBe(200);
      const events: Array<{ seq: number; type: string; current_step?: number }> = r.body.events;
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      // Every report the trainer made is there once, in training order, even those made while the database was down.
      const expected = ['created:0', 'started:0'];
      for (let step = 1; step <= 20; step++) expected.push(`progress:${step}`, ...(step % 5 === 0 ? [`checkpoint:${step}`] : []));
      expected.push('completed:20');
      expect(events.map((e) => `${e.type}:${e.current_step ?? 0}`)).toEqual(expected);
      const job = (await http(url, 'GET', `/api/training/jobs/${id}`)).body;
      expect(job.current_step).toBe(20);
      // The run that finished while the database was away was recorded once it came back, not thrown away and re-run.
      expect(job.attempts).toBe(1);
      expect(runs.get(id)).toBe(1);
    }
  }, 90_000);
});
