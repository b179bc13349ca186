// The engine trainer inside real worker PROCESSES against the real local PostgreSQL: a LoRA job trains for real;
// a worker killed with SIGKILL mid-run loses only the steps since its last checkpoint, a fresh worker resumes the
// job and ends with the same adapter (bit for bit) as an uninterrupted run with the same seed — even when the newest
// checkpoint was corrupted (checksums; the previous one is used).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync as writeFileSyncFs } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataSource, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import { AdapterRepository, TrainingJobRepository, trainingEntities, trainingMigrations, type NewTrainingJob } from '@clara/data-access';
import { writeTinyCheckpoint } from '@clara/engine/io/tiny-checkpoint';
import type { TrainingJobView } from '@clara/contracts';

const ROOT = resolve(import.meta.dirname, '../../..');
const WORKER_MAIN = join(ROOT, 'apps/training-worker/dist/main.js');

let db: TestDatabase;
let shared: SharedDataSource;
let jobs: TrainingJobRepository;
let dataDir: string;
const procs: ChildProcess[] = [];
const logs: string[] = [];

beforeAll(async () => {
  if (!existsSync(WORKER_MAIN)) throw new Error(`${WORKER_MAIN} is missing: run \`npm run build\` first (npm test does)`);
  db = await createTestDatabase('engine_worker');
  shared = await acquireDataSource({ url: db.url, entities: trainingEntities, migrations: trainingMigrations });
  jobs = new TrainingJobRepository(shared.dataSource);
  dataDir = await mkdtemp(join(tmpdir(), 'clara-engine-worker-'));
  await writeTinyCheckpoint(join(dataDir, 'models', 'tiny-llama'), {
    initStd: 0.15, vocabSize: 320, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, seed: 11,
  });
  const rows = Array.from({ length: 16 }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `Echo ${i}` }, { role: 'assistant', content: `${i} ${i}` }] }));
  await writeFile(join(dataDir, 'train.jsonl'), rows.join('\n') + '\n');
});

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await shared?.release();
  await db?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function startWorker(name: string): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NATS_URL; // in-process bus: the slow sweep (300 ms here) finds the jobs
  const p = spawn(process.execPath, [WORKER_MAIN], {
    env: {
      ...env,
      DATABASE_URL: db.url,
      CLARA_DATA_DIR: dataDir,
      CLARA_WORKER_ID: name,
      CLARA_MAX_CONCURRENT_JOBS: '1',
      CLARA_LEASE_MS: '1500',
      CLARA_SWEEP_INTERVAL_MS: '300',
      CLARA_PROGRESS_INTERVAL_MS: '0',
      CLARA_TRAIN_THREADS: '1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  p.stderr!.on('data', (d: Buffer) => {
    logs.push(`[${name}] ${d}`);
    process.stderr.write(`[${name}] ${d}`);
  });
  procs.push(p);
  return p;
}

async function stopWorker(p: ChildProcess) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

async function waitFor(id: string, pred: (j: TrainingJobView) => boolean, timeoutMs = 60_000): Promise<TrainingJobView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const j = (await jobs.findById(id))!;
    if (pred(j)) return j;
    if (Date.now() > until) {
      const exits = procs.map((p) => `${p.pid}: ${p.exitCode ?? p.signalCode ?? 'running'}`).join(', ');
      throw new Error(`timed out waiting for job ${id}: ${JSON.stringify({ status: j.status, step: j.current_step, error: j.error })}; workers ${exits}; ${logs.join('').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const newJob = (over: Partial<NewTrainingJob> = {}): NewTrainingJob => ({
  trainerType: 'lora',
  priority: 5,
  tags: [],
  baseModel: 'tiny-llama',
  dataset: 'train.jsonl',
  configPath: null,
  config: { steps: 60, batch_size: 2, lr: 0.005, seq_len: 32, rank: 4, dropout: 0.1, save_steps: 5, seed: 7, eval_split: 0.25, eval_steps: 10 },
  hyperparameters: {},
  createdBy: 'test@clara.local',
  maxAttempts: 3,
  ...over,
});

/** Processes whose command line mentions this job's directory (the training child). */
function trainingProcesses(jobId: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(jobId);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('engine trainer in the worker', () => {
  it('SIGKILL mid-run: a fresh worker resumes from the last checkpoint and produces the identical adapter', async () => {
    // Uninterrupted reference run.
    const w1 = startWorker('w-ref');
    const ref = (await jobs.create(newJob())).job!;
    const refDone = await waitFor(ref.job_id, (j) => j.status === 'completed' || j.status === 'failed');
    expect(refDone.error).toBeNull();
    expect(refDone.status).toBe('completed');
    expect(refDone.metrics.loss).toBeLessThan(5);
    // CLARA_EXECUTION_PROVIDER (default cpu) reaches the options the training process runs train() with
    const sent = JSON.parse(readFileSync(join(dataDir, 'jobs', ref.job_id, 'train-options.json'), 'utf8')) as { options: { executionProvider?: string } };
    expect(sent.options.executionProvider).toBe('cpu');
    await stopWorker(w1);

    // Same job, worker killed after its checkpoint at step 10.
    const cut = (await jobs.create(newJob())).job!;
    const w2 = startWorker('w-doomed');
    await waitFor(cut.job_id, (j) => (j.current_step ?? 0) >= 12 && !!j.last_checkpoint);
    w2.kill('SIGKILL');
    await new Promise((r) => w2.once('exit', r));
    // The orphaned training child notices its parent died and exits at its next step.
    const deadline = Date.now() + 10_000;
    while (trainingProcesses(cut.job_id).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(trainingProcesses(cut.job_id)).toEqual([]);
    const atKill = (await jobs.findById(cut.job_id))!;
    expect(atKill.status).toBe('running');
    expect(atKill.current_step).toBeLessThan(60);

    // Corrupt the newest checkpoint (a torn write): the checksum catches it and the resume uses the one before.
    const ckptDir = join(dataDir, 'jobs', cut.job_id, 'output', 'checkpoints');
    const ckpts = readdirSync(ckptDir).filter((n) => /^checkpoint-\d+$/.test(n)).sort();
    expect(ckpts.length).toBe(2);
    const state = join(ckptDir, ckpts[1]!, 'state.bin');
    const bytes = readFileSync(state);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSyncFs(state, bytes);
    const fallbackStep = Number(ckpts[0]!.split('-')[1]);

    const w3 = startWorker('w-fresh');
    const done = await waitFor(cut.job_id, (j) => j.status === 'completed' || j.status === 'failed');
    await stopWorker(w3);
    expect(done.error).toBeNull();
    expect(done.status).toBe('completed');
    expect(done.attempts).toBe(2);
    const events = await jobs.events(cut.job_id, 0, 1000);
    // After the requeue, the second attempt's first progress is past a checkpoint, not step 1.
    const requeued = events.findIndex((e) => e.type === 'requeued');
    expect(requeued).toBeGreaterThan(0);
    const firstAfter = events.slice(requeued).find((e) => e.type === 'progress')!;
    expect(firstAfter.current_step).toBeGreaterThan(5);
    expect(firstAfter.current_step).toBe(fallbackStep + 1); // resumed after the last VALID checkpoint
    expect(events.some((e) => e.type === 'eval')).toBe(true);

    const adapters = new AdapterRepository(shared.dataSource);
    const [a] = await adapters.findByJob(ref.job_id);
    const [b] = await adapters.findByJob(cut.job_id);
    expect(a && b).toBeTruthy();
    expect(b!.baseModel).toBe('tiny-llama');
    expect(b!.datasetRef).toBe('train.jsonl');
    expect(b!.metrics).toMatchObject({ steps: 60 });
    const bytesA = await readFile(join(a!.path, 'adapter_model.safetensors'));
    const bytesB = await readFile(join(b!.path, 'adapter_model.safetensors'));
    expect(bytesB.equals(bytesA)).toBe(true);
    expect(JSON.parse(await readFile(join(b!.path, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 4, base_model_name_or_path: 'tiny-llama' });
  }, 180_000);
});
