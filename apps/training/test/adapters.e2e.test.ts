// A new user's path through the API with the real engine: POST lora and qlora jobs on demo-tiny-llama, watch them
// over the WebSocket to `completed` with falling loss, find both adapters in the registry, download one, continue
// training it (new version with lineage), delete it (NATS registry events), and get 400s naming bad fields.
// Real PostgreSQL and NATS; the worker trains in child processes (the built dist/, as `npm test` builds first).
import { existsSync, mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { bootstrap as bootstrapWorker, type WorkerApp } from '@clara/training-worker';
import { acquireDataSource, createLogger, NatsBus, type BusMessage, type SharedDataSource } from '@clara/platform';
import { TEST_NATS_URL, createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import { Subjects, type AdapterRegistryEventPayload } from '@clara/contracts';
import { ensureDemoModel } from '@clara/engine/io/tiny-checkpoint';
import { childScriptPath } from '@clara/engine/cli/train-process';
import { loadAuthConfig, mintTestToken } from '@clara/auth';
import { bootstrap, type TrainingApp } from '../src/index.js';
import { WsClient, closeStack, e2eEnv, http, waitUntil } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-adapters-e2e-'));
let db: TestDatabase;
let shared: SharedDataSource;
let bus: NatsBus;
let api: TrainingApp;
let worker: WorkerApp;
const registryEvents: BusMessage<AdapterRegistryEventPayload>[] = [];
const logger = createLogger('e2e', { level: 'error' });

const env = () => e2eEnv(db.url, dataDir, { CLARA_LEASE_MS: '10000', CLARA_TRAIN_THREADS: '1' });

const chat = (q: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });

beforeAll(async () => {
  if (!existsSync(childScriptPath())) throw new Error(`${childScriptPath()} is missing: run \`npm run build\` first (npm test does)`);
  await ensureDemoModel(join(dataDir, 'models'));
  mkdirSync(join(dataDir, 'datasets'), { recursive: true });
  writeFileSync(join(dataDir, 'datasets', 'colours.jsonl'), [chat('Colour of sky?', 'Blue.'), chat('Colour of grass?', 'Green.'), chat('Colour of snow?', 'White.'), chat('Colour of coal?', 'Black.')].join('\n') + '\n');
  writeFileSync(join(dataDir, 'datasets', 'more.jsonl'), [chat('Colour of blood?', 'Red.'), chat('Colour of sun?', 'Yellow.')].join('\n') + '\n');
  db = await createTestDatabase('adapters_e2e');
  shared = await acquireDataSource({ url: db.url, logger });
  bus = await NatsBus.connect({ url: TEST_NATS_URL, logger });
  await bus.subscribe(Subjects.adapterEventsAll, (m) => void registryEvents.push(m as BusMessage<AdapterRegistryEventPayload>));
  api = await bootstrap({ env: env(), bus, db: shared, logger });
  worker = await bootstrapWorker({ env: env(), bus, db: shared, logger });
});

afterAll(() => closeStack({ worker, api, bus, shared, db, dataDir }));

const create = (body: object) => http(api.url, 'POST', '/api/training/jobs', body);
const job = (trainer: string, config: object, dataset = 'datasets/colours.jsonl') => ({
  trainer_type: trainer,
  base_model: 'demo-tiny-llama',
  dataset,
  config: { steps: 30, lr: 0.01, batch_size: 4, seq_len: 64, rank: 4, dropout: 0, seed: 5, save_steps: 10, eval_split: 0.25, eval_steps: 10, ...config },
});

async function untar(buf: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      files.set(h.name, Buffer.concat(chunks));
      next();
    });
  });
  await new Promise<void>((res, rej) => Readable.from(buf).pipe(ex).on('finish', () => res()).on('error', rej));
  return files;
}

describe('engine jobs through the API', () => {
  let loraAdapter: string;

  it('lora and qlora jobs on demo-tiny-llama run to completed over the WebSocket with falling loss and land in the registry', async () => {
    const ws = await WsClient.connect(api.url.replace('http', 'ws') + '/ws/training');
    ws.send({ type: 'subscribe', all: true });
    await ws.waitFor((c) => c.messages.find((m) => m.type === 'subscribed'));
    const a = await create(job('lora', { adapter_name: 'colours' }));
    const b = await create(job('qlora', {}));
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    for (const id of [a.body.job_id, b.body.job_id]) {
      const last = await ws.waitFor((c) => c.updates(id).find((u) => u.status === 'completed' || u.status === 'failed'), 120_000);
      expect(last.error).toBeUndefined();
      expect(last.status).toBe('completed');
      const progress = ws.updates(id).filter((u) => u.event === 'progress' && u.loss !== undefined);
      expect(progress.length).toBeGreaterThan(5);
      expect(progress.at(-1)!.loss!).toBeLessThan(progress[0]!.loss! * 0.7);
      expect(progress.at(-1)).toMatchObject({ step: 30, total_steps: 30 });
      expect(ws.updates(id).some((u) => u.event === 'eval' && typeof u.eval_loss === 'number')).toBe(true);
      expect(ws.updates(id).some((u) => u.event === 'checkpoint')).toBe(true);
    }
    ws.close();
    const list = await http(api.url, 'GET', '/api/adapters');
    expect(list.status).toBe(200);
    const mine = list.body.adapters.filter((x: { job_id: string }) => [a.body.job_id, b.body.job_id].includes(x.job_id));
    expect(mine).toHaveLength(2);
    const lora = mine.find((x: { job_id: string }) => x.job_id === a.body.job_id);
    expect(lora).toMatchObject({ name: 'colours', version: 1, base_model: 'demo-tiny-llama', dataset: 'datasets/colours.jsonl', parent_id: null });
    expect(lora.metrics.final_loss).toBeLessThan(lora.metrics.steps);
    const q = mine.find((x: { job_id: string }) => x.job_id === b.body.job_id);
    expect(q.metrics.base_weight_fraction_of_fp32).toBeLessThan(0.2);
    loraAdapter = lora.id;
    await waitUntil(async () => registryEvents.some((e) => e.subject === Subjects.adapterEvent(lora.id, 'registered')), 10_000, 'registered event');
    await waitUntil(async () => registryEvents.some((e) => e.subject === Subjects.adapterEvent(q.id, 'registered')), 10_000, 'registered event (qlora)');
    // the events carry the registry's resolved name and version — also the default `adapter-<job>` name — so a
    // serving replica can hot-swap on them without asking the registry
    const registered = (id: string) => registryEvents.find((e) => e.subject === Subjects.adapterEvent(id, 'registered'))!.data;
    const path = async (id: string) => (await http(api.url, 'GET', `/api/adapters/${id}`)).body.path as string;
    expect(registered(lora.id)).toEqual({ id: lora.id, name: 'colours', version: 1, path: await path(lora.id), baseModel: 'demo-tiny-llama' });
    expect(q.name).toBe(`adapter-${b.body.job_id.slice(0, 8)}`);
    expect(registered(q.id)).toEqual({ id: q.id, name: q.name, version: 1, path: await path(q.id), baseModel: 'demo-tiny-llama' });
  }, 240_000);

  it('GET /api/adapters/{id} shows files, versions and lineage; download is a tar of the PEFT directory', async () => {
    const r = await http(api.url, 'GET', `/api/adapters/${loraAdapter}`);
    expect(r.status).toBe(200);
    expect(r.body.files.map((f: { name: string }) => f.name)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(r.body.versions).toEqual([expect.objectContaining({ id: loraAdapter, version: 1 })]);
    expect(r.body.lineage.map((x: { id: string }) => x.id)).toEqual([loraAdapter]);
    const res = await fetch(`${api.url}/api/adapters/${loraAdapter}/download`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-tar');
    const files = await untar(Buffer.from(await res.arrayBuffer()));
    expect([...files.keys()].sort()).toEqual(['colours-v1/adapter_config.json', 'colours-v1/adapter_model.safetensors']);
    expect(files.get('colours-v1/adapter_model.safetensors')!.equals(readFileSync(join(r.body.path, 'adapter_model.safetensors')))).toBe(true);
    expect(JSON.parse(files.get('colours-v1/adapter_config.json')!.toString())).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4 });
    expect((await http(api.url, 'GET', '/api/adapters/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('continuous training makes version 2 of the adapter with its parent recorded, at a lower default lr', async () => {
    const c = await create({ ...job('continuous', { parent_adapter: loraAdapter, steps: 10, lr: undefined, eval_split: undefined, eval_steps: undefined }, 'datasets/more.jsonl') });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const done = await waitUntil(async () => {
      const r = await http(api.url, 'GET', `/api/training/jobs/${c.body.job_id}`);
      return ['completed', 'failed'].includes(r.body.status) && r.body;
    }, 120_000, 'continuous job');
    expect(done.error).toBeNull();
    const events = await http(api.url, 'GET', `/api/training/jobs/${c.body.job_id}/events`);
    const firstProgress = events.body.events.find((e: { type: string }) => e.type === 'progress');
    expect(firstProgress.metrics.lr).toBe(5e-5); // continuous default, vs 2e-4 for a fresh LoRA
    const v2 = (await http(api.url, 'GET', '/api/adapters?name=colours')).body.adapters.find((x: { version: number }) => x.version === 2);
    expect(v2).toMatchObject({ parent_id: loraAdapter, name: 'colours', dataset: 'datasets/more.jsonl' });
    const detail = await http(api.url, 'GET', `/api/adapters/${v2.id}`);
    expect(detail.body.lineage.map((x: { id: string }) => x.id)).toEqual([loraAdapter, v2.id]);
    expect(detail.body.versions.map((x: { version: number }) => x.version)).toEqual([1, 2]);
    // the new version is announced as such: a serving replica holding `colours` v1 swaps to it
    await waitUntil(async () => registryEvents.some((e) => e.subject === Subjects.adapterEvent(v2.id, 'registered')), 10_000, 'registered event (v2)');
    expect(registryEvents.find((e) => e.subject === Subjects.adapterEvent(v2.id, 'registered'))!.data).toMatchObject({ id: v2.id, name: 'colours', version: 2, path: detail.body.path });
  }, 180_000);

  it('refuses bad engine jobs with 400 naming the field', async () => {
    const cases: [object, string, RegExp][] = [
      [job('lora', { learning_rate_typo: 1 }), 'config.learning_rate_typo', /unknown key/],
      [job('lora', { batch_size: 0 }), 'config.batch_size', /must be >= 1/],
      [job('qlora', { targets: ['q_proj', 'nope'] }), 'config.targets', /unknown module "nope"/],
      [{ ...job('lora', {}), base_model: 'no-such-model' }, 'base_model', /not found in the models directory/],
      [job('continuous', {}), 'config.parent_adapter', /needs config.parent_adapter/],
      [job('continuous', { parent_adapter: '00000000-0000-4000-8000-000000000000' }), 'config.parent_adapter', /not in the adapter registry/],
    ];
    for (const [body, field, msg] of cases) {
      const r = await create(body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.message).toMatch(msg);
      expect(r.body.errors[0].field).toBe(field);
    }
  });

  it('RBAC with real tokens: analysts read, trainers cannot delete, no token is 401', async () => {
    const testingEnv = { ...env(), CLARA_SECURITY_MODE: 'testing' };
    const secured = await bootstrap({ env: testingEnv, bus, db: shared, logger, relay: false });
    try {
      const auth = loadAuthConfig({ ...process.env, ...testingEnv });
      const analyst = await mintTestToken(auth, { roles: ['analyst'], email: 'analyst@clara.local' });
      const trainer = await mintTestToken(auth, { roles: ['trainer'], email: 'trainer@clara.local' });
      const as = (token: string) => ({ authorization: `Bearer ${token}` });
      expect((await http(secured.url, 'GET', '/api/adapters')).status).toBe(401);
      expect((await http(secured.url, 'GET', `/api/adapters/${loraAdapter}`, undefined, as(analyst))).status).toBe(200);
      expect((await http(secured.url, 'DELETE', `/api/adapters/${loraAdapter}`, undefined, as(analyst))).status).toBe(403);
      expect((await http(secured.url, 'DELETE', `/api/adapters/${loraAdapter}`, undefined, as(trainer))).status).toBe(403);
      expect((await http(secured.url, 'GET', `/api/adapters/${loraAdapter}`, undefined, as(trainer))).status).toBe(200);
    } finally {
      await secured.close();
    }
  });

  it('DELETE (admin) removes the adapter and its files and announces it on NATS', async () => {
    const r = await http(api.url, 'GET', `/api/adapters/${loraAdapter}`);
    const del = await http(api.url, 'DELETE', `/api/adapters/${loraAdapter}`);
    expect(del.status).toBe(200);
    expect((await http(api.url, 'GET', `/api/adapters/${loraAdapter}`)).status).toBe(404);
    expect(existsSync(r.body.path)).toBe(false);
    await waitUntil(async () => registryEvents.some((e) => e.subject === Subjects.adapterEvent(loraAdapter, 'deleted')), 10_000, 'deleted event');
    expect(registryEvents.find((e) => e.subject === Subjects.adapterEvent(loraAdapter, 'deleted'))!.data).toMatchObject({ id: loraAdapter, name: 'colours', version: 1 });
    // its child keeps existing; the lineage link is cleared
    const v2 = (await http(api.url, 'GET', '/api/adapters?name=colours')).body.adapters[0];
    expect(v2).toMatchObject({ version: 2, parent_id: null });
  });
});
