// Faults around engine jobs on one in-process worker (real PostgreSQL): a training process that runs out of memory
// (or out of disk) fails its job with the reason while the worker lives on and completes the next job; a missing base model or
// dataset fails fast with a clear error; cancel stops a running engine job at the next step.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataSource, createLogger, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import type { NewTrainingJob } from '@clara/data-access';
import type { TrainingJobView } from '@clara/contracts';
import { writeTinyCheckpoint } from '@clara/engine/io/tiny-checkpoint';
import { childScriptPath } from '@clara/engine/cli/train-process';
import { bootstrap, type WorkerApp } from '../src/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-engine-faults-'));
let db: TestDatabase;
let shared: SharedDataSource;
let worker: WorkerApp;

beforeAll(async () => {
  if (!existsSync(childScriptPath())) throw new Error(`${childScriptPath()} is missing: run \`npm run build\` first (npm test does)`);
  await writeTinyCheckpoint(join(dataDir, 'models', 'tiny'), { vocabSize: 320, hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 1 });
  // Its training graph file (~17 MB of fp32 weights) is over the 4 MB file limit the training processes get here.
  await writeTinyCheckpoint(join(dataDir, 'models', 'big'), { vocabSize: 2048, hiddenSize: 256, intermediateSize: 512, numLayers: 2, numHeads: 4, numKvHeads: 2 });
  writeFileSync(join(dataDir, 'small.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `short record ${i}` })).join('\n') + '\n');
  // ~40k records: tokenized as JS arrays this needs far more than the 16 MB heap the training processes get here.
  writeFileSync(join(dataDir, 'huge.jsonl'), Array.from({ length: 40_000 }, (_, i) => JSON.stringify({ text: `record ${i} ` + 'lorem ipsum dolor sit amet '.repeat(8) })).join('\n') + '\n');
  db = await createTestDatabase('engine_faults');
  shared = await acquireDataSource({ url: db.url });
  worker = await bootstrap({
    db: shared,
    logger: createLogger('faults', { level: 'error' }),
    env: {
      DATABASE_URL: db.url,
      NATS_URL: undefined,
      CLARA_DATA_DIR: dataDir,
      CLARA_MAX_CONCURRENT_JOBS: '1',
      CLARA_SWEEP_INTERVAL_MS: '200',
      CLARA_PROGRESS_INTERVAL_MS: '0',
      CLARA_TRAIN_THREADS: '1',
      CLARA_TRAIN_MAX_HEAP_MB: '16',
      CLARA_TRAIN_MAX_FILE_MB: '4',
      CLARA_LEASE_MS: '3000',
      LOG_LEVEL: 'error',
    },
  });
});

afterAll(async () => {
  await worker?.close();
  await shared?.release();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const job = (over: Partial<NewTrainingJob>): NewTrainingJob => ({
  trainerType: 'lora',
  priority: 5,
  tags: [],
  baseModel: 'tiny',
  dataset: 'small.jsonl',
  configPath: null,
  config: { steps: 6, batch_size: 2, seq_len: 32, rank: 2, save_steps: 2 },
  hyperparameters: {},
  createdBy: 'faults@clara.local',
  maxAttempts: 1,
  ...over,
});

async function finished(id: string, pred = (j: TrainingJobView) => ['completed', 'failed', 'cancelled'].includes(j.status)): Promise<TrainingJobView> {
  const end = Date.now() + 60_000;
  for (;;) {
    const j = (await worker.jobs.findById(id))!;
    if (pred(j)) return j;
    if (Date.now() > end) throw new Error(`job ${id} stuck in ${j.status} at step ${j.current_step}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('engine job faults', () => {
  it('out of memory fails the job with the reason; the same worker then completes a job', async () => {
    const oom = (await worker.jobs.create(job({ dataset: 'huge.jsonl' }))).job!;
    const failed = await finished(oom.job_id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/training out of memory/);
    const ok = (await worker.jobs.create(job({}))).job!;
    const done = await finished(ok.job_id);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.adapter_id).toBeTruthy();
  });

  it('a full disk (file size limit) fails the job as disk full; the worker goes on', async () => {
    const big = (await worker.jobs.create(job({ baseModel: 'big' }))).job!;
    const failed = await finished(big.job_id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/training disk full: .*(EFBIG|file too large)/);
    const ok = (await worker.jobs.create(job({}))).job!;
    expect((await finished(ok.job_id)).status).toBe('completed');
  });

  it('a missing base model or dataset fails fast naming it', async () => {
    const a = (await worker.jobs.create(job({ baseModel: 'gone' }))).job!;
    expect((await finished(a.job_id)).error).toMatch(/base model "gone" not found in the models directory \(available: big, tiny\)/);
    const b = (await worker.jobs.create(job({ dataset: 'dsv_0123' }))).job!;
    expect((await finished(b.job_id)).error).toMatch(/dataset version "dsv_0123" could not be exported/);
  });

  it('cancel stops a running engine job at the next step', async () => {
    const long = (await worker.jobs.create(job({ config: { steps: 100000, batch_size: 2, seq_len: 32, rank: 2, save_steps: 5 } }))).job!;
    await finished(long.job_id, (j) => (j.current_step ?? 0) >= 3);
    await worker.jobs.requestCancel(long.job_id, 'faults@clara.local');
    const j = await finished(long.job_id);
    expect(j.status).toBe('cancelled');
    expect(j.current_step).toBeLessThan(1000);
  });
});
