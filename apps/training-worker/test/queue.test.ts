// The durable queue as workers see it: real PostgreSQL + NATS, test trainers registered from test code.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Subjects, type TrainerRunner } from '@clara/contracts';
import { TrainingJobRepository, type NewTrainingJob } from '@clara/data-access';
import { NatsBus, acquireDataSource, createLogger, isDatabaseUnavailable, type SharedDataSource } from '@clara/platform';
import { TEST_NATS_URL, TEST_POSTGRES_URL, createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import pg from 'pg';
import { bootstrap, registerTrainer, type WorkerApp } from '../src/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-worker-'));
const logger = createLogger('queue-test', { level: (process.env.E2E_LOG as 'warn') ?? 'error' });
let db: TestDatabase;
let shared: SharedDataSource;
let bus: NatsBus;
let jobs: TrainingJobRepository;
const apps: WorkerApp[] = [];
const undo: Array<() => void> = [];

const env = (over: Record<string, string> = {}) => ({
  DATABASE_URL: db.url,
  NATS_URL: TEST_NATS_URL,
  CLARA_DATA_DIR: dataDir,
  LOG_LEVEL: 'error',
  CLARA_MAX_CONCURRENT_JOBS: '2',
  CLARA_LEASE_MS: '1500',
  CLARA_SWEEP_INTERVAL_MS: '200',
  CLARA_PROGRESS_INTERVAL_MS: '0',
  ...over,
});
const newJob = (over: Partial<NewTrainingJob> = {}): NewTrainingJob => ({
  trainerType: 'lora', priority: 5, tags: [], baseModel: 'tiny', dataset: null, configPath: null, config: null,
  hyperparameters: {}, createdBy: 'test', maxAttempts: 3, ...over,
});
async function startWorker(over: Record<string, string> = {}) {
  const app = await bootstrap({ env: env(over), bus, db: shared, logger, engineTrainers: false });
  apps.push(app);
  return app;
}
async function waitStatus(id: string, status: string, ms = 15_000) {
  const end = Date.now() + ms;
  for (;;) {
    // A read racing a dropped connection fails like any client's would: try again, as clients do.
    const j = await jobs.findById(id).catch((err) => {
      if (isDatabaseUnavailable(err)) return undefined;
      throw err;
    });
    if (j?.status === status) return j;
    if (Date.now() > end) throw new Error(`job ${id} is ${j?.status}, wanted ${status}`);
    await sleep(50);
  }
}

/** Steps on a timer (the event loop stays free); counts runs and concurrency. */
function countingTrainer(stepMs: number, steps: number) {
  const runs = new Map<string, number>();
  const resumedFrom = new Map<string, string | undefined>();
  let active = 0;
  let maxActive = 0;
  const runner: TrainerRunner = {
    async run(job, ctx) {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      resumedFrom.set(job.id, ctx.resumeFrom);
      maxActive = Math.max(maxActive, ++active);
      try {
        for (let s = 1; s <= steps; s++) {
          if (ctx.signal.aborted) throw new Error('aborted');
          await sleep(stepMs);
          ctx.report({ kind: 'progress', step: s, totalSteps: steps, loss: 1 / s });
          if (ctx.shouldStop()) return { stopped: true };
        }
        return { steps, finalLoss: 1 / steps };
      } finally {
        active--;
      }
    },
  };
  return { runner, runs, resumedFrom, maxActive: () => maxActive };
}

beforeAll(async () => {
  db = await createTestDatabase('worker_queue');
  shared = await acquireDataSource({ url: db.url, logger });
  bus = await NatsBus.connect({ url: TEST_NATS_URL, logger });
  const { trainingEntities, trainingMigrations } = await import('@clara/data-access');
  await shared.extend({ entities: trainingEntities, migrations: trainingMigrations });
  jobs = new TrainingJobRepository(shared.dataSource);
});
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  undo.splice(0).forEach((u) => u());
  await shared.dataSource.query('TRUNCATE training_jobs CASCADE');
});
afterAll(async () => {
  await bus?.close();
  await shared?.release();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('training worker queue', () => {
  it('two workers run 12 jobs: each exactly once, both take work, at most CLARA_MAX_CONCURRENT_JOBS at a time each', async () => {
    const t = countingTrainer(15, 4);
    undo.push(registerTrainer('lora', t.runner));
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await jobs.create(newJob())).job.job_id);
    const [a, b] = await Promise.all([startWorker({ CLARA_WORKER_ID: 'wa' }), startWorker({ CLARA_WORKER_ID: 'wb' })]);
    for (const id of ids) await waitStatus(id, 'completed');
    expect([...t.runs.values()]).toEqual(Array(12).fill(1));
    const startedBy = await Promise.all(ids.map(async (id) => (await jobs.events(id, 0, 100)).filter((e) => e.type === 'started').map((e) => e.worker_id)));
    expect(startedBy.every((w) => w.length === 1)).toBe(true);
    expect(new Set(startedBy.flat())).toEqual(new Set(['wa', 'wb']));
    expect(t.maxActive()).toBeLessThanOrEqual(4); // 2 workers × 2
    expect(a.worker.runningJobIds.length + b.worker.runningJobIds.length).toBe(0);
  });

  it('requeues a job whose worker died (lease expired), raising attempts, and resumes from its checkpoint', async () => {
    const t = countingTrainer(10, 3);
    undo.push(registerTrainer('lora', t.runner));
    const { job } = await jobs.create(newJob());
    // A worker that claimed, wrote a checkpoint, then was killed: it never heartbeats again.
    await jobs.claimNext('killed-worker', 300);
    await jobs.recordCheckpoint(job.job_id, 'killed-worker', 7, '/ckpt/step-7');
    await startWorker({ CLARA_WORKER_ID: 'survivor' });
    const done = await waitStatus(job.job_id, 'completed');
    expect(done.attempts).toBe(2);
    expect(t.resumedFrom.get(job.job_id)).toBe('/ckpt/step-7');
    const types = (await jobs.events(job.job_id, 0, 100)).map((e) => e.type);
    expect(types.slice(0, 5)).toEqual(['created', 'started', 'checkpoint', 'requeued', 'started']);
    expect(types.at(-1)).toBe('completed');
  });

  it('fails a job with the reason once max_attempts runs were lost', async () => {
    undo.push(registerTrainer('lora', countingTrainer(10, 3).runner));
    const { job } = await jobs.create(newJob({ maxAttempts: 1 }));
    await jobs.claimNext('killed-worker', 200);
    await startWorker();
    const failed = await waitStatus(job.job_id, 'failed');
    expect(failed.error).toMatch(/lease of worker killed-worker expired on attempt 1 of 1/);
  });

  it('is woken through NATS: a new job starts long before the next sweep', async () => {
    const t = countingTrainer(5, 1);
    undo.push(registerTrainer('lora', t.runner));
    await startWorker({ CLARA_SWEEP_INTERVAL_MS: '60000' });
    await sleep(200);
    const { job } = await jobs.create(newJob());
    const t0 = Date.now();
    await bus.publish(Subjects.trainingQueueWake, { job_id: job.job_id });
    await waitStatus(job.job_id, 'completed', 5000);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a job of an unregistered trainer type fails with a clear error', async () => {
    const { job } = await jobs.create(newJob({ trainerType: 'continuous' }));
    await startWorker();
    const failed = await waitStatus(job.job_id, 'failed');
    expect(failed.error).toMatch(/no trainer is available for trainer_type "continuous" on worker/);
  });

  it('keeps going when PostgreSQL drops every connection (a database restart as clients see it)', async () => {
    undo.push(registerTrainer('lora', countingTrainer(30, 30).runner));
    const { job } = await jobs.create(newJob());
    await startWorker();
    await waitStatus(job.job_id, 'running');
    await sleep(200);
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);
    await admin.end();
    expect(killed.rowCount).toBeGreaterThan(0);
    const done = await waitStatus(job.job_id, 'completed', 30_000);
    expect(done.current_step).toBe(30);
  });

  it('on shutdown puts its running job back in the queue without counting the attempt', async () => {
    undo.push(registerTrainer('lora', countingTrainer(50, 1000).runner));
    const { job } = await jobs.create(newJob());
    const w = await startWorker();
    await waitStatus(job.job_id, 'running');
    await w.close();
    apps.splice(apps.indexOf(w), 1);
    const back = await waitStatus(job.job_id, 'pending', 5000);
    expect(back.attempts).toBe(0);
    expect((await jobs.events(job.job_id, 0, 1000)).at(-1)?.type).toBe('requeued');
  });
});
