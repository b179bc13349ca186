// The training API + a worker, booted like production (real PostgreSQL, real NATS JetStream), driven over
// HTTP and WebSocket like a client.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrap as bootstrapWorker, registerTrainer, type WorkerApp } from '@clara/training-worker';
import { acquireDataSource, createLogger, NatsBus, type SharedDataSource } from '@clara/platform';
import { TEST_NATS_URL, createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import { bootstrap, type TrainingApp } from '../src/index.js';
import { WsClient, closeStack, e2eEnv, http, sleep, stepTrainer, waitUntil } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-training-e2e-'));
mkdirSync(join(dataDir, 'datasets'), { recursive: true });
mkdirSync(join(dataDir, 'configs'), { recursive: true });
writeFileSync(join(dataDir, 'datasets', 'train.jsonl'), '{"text":"hello"}\n');
writeFileSync(join(dataDir, 'configs', 'qlora.yaml'), 'lora_rank: 4\n');

let db: TestDatabase;
let shared: SharedDataSource;
let bus: NatsBus;
let api: TrainingApp;
let worker: WorkerApp | undefined;
const logger = createLogger('e2e', { level: (process.env.E2E_LOG as 'warn') ?? 'error' });
const env = () => e2eEnv(db.url, dataDir, { CLARA_LEASE_MS: '3000' });
const wsUrl = () => api.url.replace('http', 'ws') + '/ws/training';
const create = (body: object, headers?: Record<string, string>) => http(api.url, 'POST', '/api/training/jobs', body, headers);
const good = { trainer_type: 'lora', base_model: 'tiny', dataset: 'datasets/train.jsonl', priority: 3, tags: ['e2e'], hyperparameters: { max_steps: 4 } };

beforeAll(async () => {
  db = await createTestDatabase('training_e2e');
  shared = await acquireDataSource({ url: db.url, logger });
  bus = await NatsBus.connect({ url: TEST_NATS_URL, logger });
  api = await bootstrap({ env: env(), bus, db: shared, logger });
});

afterAll(() => closeStack({ worker, api, bus, shared, db, dataDir }));

async function startWorker() {
  worker = await bootstrapWorker({ env: env(), bus, db: shared, logger, engineTrainers: false });
  return worker;
}
async function stopWorker() {
  await worker?.close();
  worker = undefined;
}

describe('health and docs', () => {
  it('reports PostgreSQL and NATS ready', async () => {
    const r = await http(api.url, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'healthy', checks: { database: { ok: true, embedded: false }, bus: { ok: true, kind: 'nats' } } });
  });
  it('serves the OpenAPI document generated from the DTOs', async () => {
    const r = await http(api.url, 'GET', '/api/docs-json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toEqual(expect.arrayContaining(['/api/training/jobs', '/api/training/jobs/{id}', '/api/training/jobs/{id}/events', '/health']));
    expect(r.body.components.schemas.CreateTrainingJobDto.properties.priority).toMatchObject({ minimum: 1, maximum: 10 });
  });
});

describe('bad input is a 4xx naming the problem', () => {
  it.each([
    ['malformed JSON', '{"trainer_type": "lora",', 400, /malformed JSON/],
    ['a JSON array', '[1,2]', 400, /JSON object/],
    ['unknown trainer_type', { ...good, trainer_type: 'magic' }, 400, /trainer_type must be one of: lora, qlora, continuous/],
    ['priority as string', { ...good, priority: 'high' }, 400, /priority/],
    ['priority out of range', { ...good, priority: 11 }, 400, /priority must not be greater than 10/],
    ['unknown field', { ...good, colour: 'red' }, 400, /unknown field colour/],
    ['unknown nested field', { ...good, hyperparameters: { bogus: 1 } }, 400, /unknown field hyperparameters\.bogus/],
    ['bad nested value', { ...good, hyperparameters: { learning_rate: 5 } }, 400, /hyperparameters\.learning_rate must not be greater than 1/],
    ['config_path traversal', { ...good, config_path: '../../etc/passwd.yaml' }, 400, /config_path/],
    ['absolute dataset path', { ...good, dataset: '/etc/passwd.jsonl' }, 400, /dataset/],
    ['dataset file missing', { ...good, dataset: 'datasets/none.jsonl' }, 400, /dataset file not found/],
    ['tags not strings', { ...good, tags: [1] }, 400, /tags/],
    ['nothing to train on', { trainer_type: 'lora' }, 400, /config_path, an inline config, or base_model together with dataset/],
  ])('%s', async (_name, body, status, message) => {
    const r = await http(api.url, 'POST', '/api/training/jobs', body);
    expect(r.status).toBe(status);
    expect(r.body.message).toMatch(message);
    expect(r.body.statusCode).toBe(status);
  });

  it('a body over 1 MB is 413', async () => {
    const r = await create({ ...good, config: { blob: 'x'.repeat(1_100_000) } });
    expect(r.status).toBe(413);
    expect(r.body.message).toMatch(/exceeds/);
  });

  it('unknown and malformed ids, bad query parameters', async () => {
    expect((await http(api.url, 'GET', '/api/training/jobs/3f1c2a7e-1111-4222-8333-444455556666')).status).toBe(404);
    const bad = await http(api.url, 'GET', '/api/training/jobs/not-a-uuid');
    expect(bad).toMatchObject({ status: 400, body: { message: 'id must be a UUID' } });
    expect((await http(api.url, 'DELETE', '/api/training/jobs/3f1c2a7e-1111-4222-8333-444455556666')).status).toBe(404);
    expect((await http(api.url, 'GET', '/api/training/jobs/list?limit=0')).body.message).toMatch(/limit/);
    expect((await http(api.url, 'GET', '/api/training/jobs/list?status=sleeping')).body.message).toMatch(/status/);
    expect((await http(api.url, 'GET', '/api/training/jobs/list?cursor=bm9wZQ')).body.message).toMatch(/cursor/);
    expect((await http(api.url, 'GET', '/api/training/jobs/list?evil=1')).body.message).toMatch(/unknown field evil/);
  });
});

describe('create, idempotency, list, cancel (no worker running)', () => {
  it('returns the seed response shape, and the same job for a retried Idempotency-Key', async () => {
    const r = await create(good, { 'Idempotency-Key': 'retry-1' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      success: true,
      status: 'pending',
      message: `Training job created: ${r.body.job_id}`,
      data: { trainer_type: 'lora', created_by: 'e2e@clara.local', priority: 3, tags: ['e2e'] },
    });
    const again = await create(good, { 'Idempotency-Key': 'retry-1' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.job_id).toBe(r.body.job_id);
    const different = await create({ ...good, priority: 9 }, { 'Idempotency-Key': 'retry-1' });
    expect(different.status).toBe(422);
    expect(different.body.message).toMatch(/Idempotency-Key/);
  });

  it('lists with filters and cursors, newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create({ ...good, tags: ['page-test'] })).body.job_id);
    const p1 = await http(api.url, 'GET', '/api/training/jobs/list?tag=page-test&limit=2');
    expect(p1.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([ids[2], ids[1]]);
    const p2 = await http(api.url, 'GET', `/api/training/jobs/list?tag=page-test&limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([ids[0]]);
    expect(p2.body.next_cursor).toBeNull();
    const mine = await http(api.url, 'GET', '/api/training/jobs/list?created_by=e2e@clara.local&status=pending&limit=200');
    expect(mine.body.jobs.length).toBeGreaterThanOrEqual(4);
  });

  it('cancels a pending job at once, then answers 409', async () => {
    const { body } = await create(good);
    const c = await http(api.url, 'DELETE', `/api/training/jobs/${body.job_id}`);
    expect(c).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    expect((await http(api.url, 'GET', `/api/training/jobs/${body.job_id}`)).body.status).toBe('cancelled');
    const again = await http(api.url, 'DELETE', `/api/training/jobs/${body.job_id}`);
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/already finished with status cancelled/);
  });

  it('keeps an accepted job across an API restart', async () => {
    const { body } = await create({ ...good, tags: ['restart'] });
    await api.close();
    api = await bootstrap({ env: env(), bus, db: shared, logger });
    const r = await http(api.url, 'GET', `/api/training/jobs/${body.job_id}`);
    expect(r).toMatchObject({ status: 200, body: { job_id: body.job_id, status: 'pending', tags: ['restart'] } });
  });
});

describe('with a worker', () => {
  let unregister: Array<() => void> = [];
  beforeAll(async () => {
    // Drain what earlier tests left pending so they don't compete for the worker.
    for (const j of (await http(api.url, 'GET', '/api/training/jobs/list?status=pending&limit=200')).body.jobs) {
      await http(api.url, 'DELETE', `/api/training/jobs/${j.job_id}`);
    }
    unregister = [registerTrainer('lora', stepTrainer({ steps: 4, stepMs: 30 })), registerTrainer('qlora', stepTrainer({ steps: 400, stepMs: 25 }))];
    await startWorker();
  });
  afterAll(async () => {
    await stopWorker();
    unregister.forEach((u) => u());
  });

  it('create → claim → progress → completed, with every event over WebSocket and in /events', async () => {
    const ws = await WsClient.connect(wsUrl());
    ws.send({ type: 'subscribe', all: true });
    await ws.waitFor((c) => c.messages.find((m) => m.type === 'subscribed'));
    const { body } = await create(good);
    const id = body.job_id;
    const last = await ws.waitFor((c) => c.updates(id).find((u) => u.status === 'completed'));
    expect(last).toMatchObject({ type: 'job_update', job_id: id, status: 'completed', progress_percent: 100 });
    const updates = ws.updates(id);
    expect(updates.map((u) => u.seq)).toEqual(updates.map((_, i) => i + 1));
    expect(updates.map((u) => u.event)).toEqual(['created', 'started', 'progress', 'progress', 'checkpoint', 'progress', 'progress', 'checkpoint', 'completed']);
    const progress = updates.filter((u) => u.event === 'progress');
    expect(progress.map((u) => u.progress_percent)).toEqual([25, 50, 75, 100]);
    expect(progress[1]).toMatchObject({ step: 2, total_steps: 4, current_epoch: 1, total_epochs: 1, loss: 1, lr: 1e-3 });
    const job = await http(api.url, 'GET', `/api/training/jobs/${id}`);
    expect(job.body).toMatchObject({ status: 'completed', progress_percent: 100, current_step: 4, total_steps: 4, attempts: 1, error: null });
    expect(job.body.completed_at).toBeTruthy();
    const events = await http(api.url, 'GET', `/api/training/jobs/${id}/events?after=2`);
    expect(events.body.events.map((e: { seq: number }) => e.seq)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    ws.close();
  });

  it('a job whose trainer is not registered fails with a clear error (never simulated)', async () => {
    const { body } = await create({ ...good, trainer_type: 'continuous' });
    const job = await waitUntil(async () => {
      const r = await http(api.url, 'GET', `/api/training/jobs/${body.job_id}`);
      return r.body.status === 'failed' && r.body;
    });
    expect(job.error).toMatch(/no trainer is available for trainer_type "continuous"/);
    expect(job.progress_percent).toBe(0);
  });

  it('cancels a running job at the next step boundary and keeps its last checkpoint', async () => {
    const { body } = await create({ ...good, trainer_type: 'qlora', hyperparameters: {} });
    const id = body.job_id;
    await waitUntil(async () => (await http(api.url, 'GET', `/api/training/jobs/${id}`)).body.last_checkpoint, 10_000, 'a checkpoint');
    const c = await http(api.url, 'DELETE', `/api/training/jobs/${id}`);
    expect(c).toMatchObject({ status: 200, body: { status: 'cancelling' } });
    const job = await waitUntil(async () => {
      const r = await http(api.url, 'GET', `/api/training/jobs/${id}`);
      return r.body.status === 'cancelled' && r.body;
    }, 10_000, 'cancelled');
    expect(job.last_checkpoint).toMatch(/checkpoints\/step-\d+$/);
    expect(job.current_step).toBeLessThan(400);
    const types = (await http(api.url, 'GET', `/api/training/jobs/${id}/events`)).body.events.map((e: { type: string }) => e.type);
    expect(types.indexOf('cancelling')).toBeGreaterThan(types.indexOf('started'));
    expect(types.at(-1)).toBe('cancelled');
    expect((await http(api.url, 'DELETE', `/api/training/jobs/${id}`)).status).toBe(409);
  });

  it('WebSocket resume after a reconnect delivers every missed event exactly once, in order', async () => {
    const { body } = await create({ ...good, trainer_type: 'qlora', hyperparameters: { max_steps: 40 } });
    const id = body.job_id;
    const first = await WsClient.connect(wsUrl());
    first.send({ type: 'subscribe', job_ids: [id] });
    await first.waitFor((c) => c.updates(id).length >= 4);
    first.close();
    const seen = first.updates(id);
    const lastSeq = seen[seen.length - 1].seq;
    await sleep(300); // events keep coming while disconnected
    const second = await WsClient.connect(wsUrl());
    second.send({ type: 'subscribe', job_ids: [id], last_seq: { [id]: lastSeq } });
    await second.waitFor((c) => c.updates(id).find((u) => u.status === 'completed'), 20_000);
    const all = [...seen, ...second.updates(id)].map((u) => u.seq);
    expect(all).toEqual(all.map((_, i) => i + 1)); // 1..n: nothing missing, nothing twice
    const stored = (await http(api.url, 'GET', `/api/training/jobs/${id}/events?limit=1000`)).body.events.length;
    expect(all.length).toBe(stored);
    second.close();
  });

  it('answers ping and rejects nonsense messages without dropping the connection', async () => {
    const ws = await WsClient.connect(wsUrl());
    ws.send({ type: 'ping' });
    await ws.waitFor((c) => c.messages.find((m) => m.type === 'pong'));
    ws.ws.send('not json');
    ws.send({ type: 'subscribe', job_ids: ['../etc'] });
    await ws.waitFor((c) => c.messages.filter((m) => m.type === 'error').length >= 2);
    expect(ws.closed).toBe(false);
    ws.close();
  });
});
