// A job whose `dataset` is a dataset VERSION: the worker asks the real datasets service (request/reply on the bus)
// to export it to JSONL, trains on it, and the adapter's lineage names the version. Datasets service on its embedded
// store; worker on the real local PostgreSQL; one in-process bus between them.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataSource, createLogger, InProcessBus, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import { AdapterRepository } from '@clara/data-access';
import { bootstrap as bootstrapDatasets } from '@clara/datasets';
import { writeTinyCheckpoint } from '@clara/engine/io/tiny-checkpoint';
import { childScriptPath } from '@clara/engine/cli/train-process';
import { bootstrap, type WorkerApp } from '../src/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-engine-dsv-'));
const logger = createLogger('dsv', { level: 'error' });
let db: TestDatabase;
let shared: SharedDataSource;
let bus: InProcessBus;
let datasets: Awaited<ReturnType<typeof bootstrapDatasets>>;
let worker: WorkerApp;

beforeAll(async () => {
  if (!existsSync(childScriptPath())) throw new Error(`${childScriptPath()} is missing: run \`npm run build\` first (npm test does)`);
  await writeTinyCheckpoint(join(dataDir, 'models', 'tiny'), { vocabSize: 320, hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 1 });
  db = await createTestDatabase('engine_dsv');
  shared = await acquireDataSource({ url: db.url });
  bus = new InProcessBus();
  const common = { CLARA_DATA_DIR: dataDir, NATS_URL: undefined, CLARA_SECURITY_MODE: 'debug', DEBUG_USER_ROLES: 'admin,trainer', LOG_LEVEL: 'error' };
  datasets = await bootstrapDatasets({ bus, logger, env: { ...common, DATABASE_URL: undefined, CLARA_DATASETS_PORT: '0', CLARA_DATASETS_HOST: '127.0.0.1' } });
  worker = await bootstrap({ bus, db: shared, logger, env: { ...common, DATABASE_URL: db.url, CLARA_SWEEP_INTERVAL_MS: '200', CLARA_TRAIN_THREADS: '1' } });
}, 120_000);

afterAll(async () => {
  await worker?.close();
  await datasets?.close();
  await shared?.release();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('training on a dataset version', () => {
  it('exports the version through the datasets service, trains on it and records it as the lineage', async () => {
    const docs = Array.from({ length: 6 }, (_, i) => ({ title: `Doc ${i}`, content: `Solar panels on roof number ${i} need no permit in most cases.`, domain: 'energy' }));
    const ingest = await fetch(`${datasets.url}/api/datasets/documents`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(docs) });
    expect(ingest.status).toBe(201);
    const created = await fetch(`${datasets.url}/api/datasets/versions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataset: 'solar', filters: { domain: 'energy' } }) });
    const { version } = (await created.json()) as { version: { id: string; item_count: number } };
    expect(version.item_count).toBe(6);

    const { job } = await worker.jobs.create({
      trainerType: 'lora', priority: 5, tags: [], baseModel: 'tiny', dataset: version.id, configPath: null,
      config: { steps: 4, batch_size: 2, seq_len: 48, rank: 2 }, hyperparameters: {}, createdBy: 'dsv@clara.local', maxAttempts: 1,
    });
    const end = Date.now() + 60_000;
    let j = (await worker.jobs.findById(job!.job_id))!;
    while (!['completed', 'failed'].includes(j.status) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      j = (await worker.jobs.findById(job!.job_id))!;
    }
    expect(j.error).toBeNull();
    expect(j.status).toBe('completed');
    const [adapter] = await new AdapterRepository(shared.dataSource).findByJob(job!.job_id);
    expect(adapter!.datasetRef).toBe(version.id);
    const lineage = await fetch(`${datasets.url}/api/datasets/versions/${version.id}/lineage`).then((r) => r.json() as Promise<{ training_jobs: { training_job_id: string }[] }>);
    expect(lineage.training_jobs.map((t) => t.training_job_id)).toContain(job!.job_id);
  });
});
