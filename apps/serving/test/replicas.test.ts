/**
 * Integration: two serving replicas on the real NATS and PostgreSQL converge on one adapter set (load, hot swap,
 * unload travel as bus commands), and adapters registered in the registry load on first request and hot-swap
 * when the registry announces a new version.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects, type AdapterRegistryEventPayload } from '@clara/contracts';
import { AdapterRepository, trainingEntities, trainingMigrations } from '@clara/data-access';
import { TextTokenizer } from '@clara/engine/io/tokenizer';
import { acquireDataSource, createMessageBus, type MessageBus, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from '@clara/platform/testing';
import type { ServingApp } from '../src/app.js';
import { GreedyReference, postJson, startServing, tinyModelFixture, writeAdapter, type Fixture } from './helpers.js';

let fx: Fixture;
let db: TestDatabase;
let shared: SharedDataSource;
let bus: MessageBus;
let a: ServingApp;
let b: ServingApp;
let adapter1: string;
let adapter2: string;
const prompt = [1, 40, 41, 42, 43];

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() - t0 > ms) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function models(app: ServingApp): Promise<{ id: string; version?: string }[]> {
  return ((await (await fetch(`${app.url}/v1/models`)).json()) as { data: { id: string; version?: string }[] }).data;
}

beforeAll(async () => {
  fx = await tinyModelFixture();
  adapter1 = await writeAdapter(join(fx.root, 'adapters', 'one'), fx.config, 11, 4);
  adapter2 = await writeAdapter(join(fx.root, 'adapters', 'two'), fx.config, 22, 4);
  db = await createTestDatabase('serving');
  const env = { NATS_URL: TEST_NATS_URL, DATABASE_URL: db.url, CLARA_SERVING_REGISTRY: 'true' };
  a = await startServing(fx, { ...env, CLARA_SERVING_REPLICA_ID: 'replica-a' });
  b = await startServing(fx, { ...env, CLARA_SERVING_REPLICA_ID: 'replica-b' });
  shared = await acquireDataSource({ url: db.url, entities: trainingEntities, migrations: trainingMigrations });
  bus = await createMessageBus({ natsUrl: TEST_NATS_URL, name: 'serving-test' });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await bus?.close();
  await shared?.release();
  await db?.drop();
  await fx?.cleanup();
});

describe('serving replicas', () => {
  it('converge: a load, a hot swap and an unload on one replica reach the other over NATS', async () => {
    expect((await postJson(`${a.url}/v1/load_lora_adapter`, { lora_name: 'shared', lora_path: adapter1 })).status).toBe(200);
    const seen = await eventually(() => models(b), (m) => m.some((x) => x.id === 'shared'));
    const versionA = (await models(a)).find((x) => x.id === 'shared')!.version;
    expect(seen.find((x) => x.id === 'shared')?.version).toBe(versionA);

    expect((await postJson(`${a.url}/v1/load_lora_adapter`, { lora_name: 'shared', lora_path: adapter2 })).status).toBe(200);
    const versionA2 = (await models(a)).find((x) => x.id === 'shared')!.version;
    expect(versionA2).not.toBe(versionA);
    const swapped = await eventually(() => models(b), (m) => m.find((x) => x.id === 'shared')?.version === versionA2);
    expect(swapped.find((x) => x.id === 'shared')?.version).toBe(versionA2);
    // both replicas now answer with the second adapter's weights
    const tok = await TextTokenizer.load(fx.modelDir);
    const expected = tok.decode((await (await GreedyReference.create(fx.modelDir, adapter2)).generate(prompt, 8, 1)).ids, true);
    for (const app of [a, b]) {
      const client = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const res = await client.completions.create({ model: 'shared', prompt, max_tokens: 8, temperature: 0, ignore_eos: true } as never);
      expect((res as { choices: { text: string }[] }).choices[0]!.text).toBe(expected);
    }
    const info = (await (await fetch(`${b.url}/v1/replica`)).json()) as { replica_id: string; resident_adapters: string[] };
    expect(info).toMatchObject({ replica_id: 'replica-b', resident_adapters: ['shared'] });

    expect((await postJson(`${b.url}/v1/unload_lora_adapter`, { lora_name: 'shared' })).status).toBe(200);
    const gone = await eventually(() => models(a), (m) => !m.some((x) => x.id === 'shared'));
    expect(gone.map((x) => x.id)).toEqual(['tiny']);
  });

  it('loads a registry adapter on first request and hot-swaps when the registry announces a new version', async () => {
    const repo = new AdapterRepository(shared.dataSource);
    const v1 = await repo.register({ name: 'reg-bot', baseModel: 'tiny', path: adapter1 });
    const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const tok = await TextTokenizer.load(fx.modelDir);
    const ref1 = tok.decode((await (await GreedyReference.create(fx.modelDir, adapter1)).generate(prompt, 8, 1)).ids, true);
    const ref2 = tok.decode((await (await GreedyReference.create(fx.modelDir, adapter2)).generate(prompt, 8, 1)).ids, true);
    const ask = async (model: string) =>
      ((await client.completions.create({ model, prompt, max_tokens: 8, temperature: 0, ignore_eos: true } as never)) as { choices: { text: string }[] }).choices[0]!.text;
    expect(await ask('reg-bot')).toBe(ref1);
    expect((await models(b)).find((m) => m.id === 'reg-bot')?.version).toBe('1');

    const v2 = await repo.register({ name: 'reg-bot', baseModel: 'tiny', path: adapter2, parentId: v1.id });
    // the shape the training worker publishes: the registry's name and version
    const event: AdapterRegistryEventPayload = { id: v2.id, name: v2.name, version: v2.version, path: adapter2, baseModel: 'tiny' };
    expect(event).toMatchObject({ name: 'reg-bot', version: 2 });
    await bus.publish(Subjects.adapterEvent(v2.id, 'registered'), event);
    await eventually(() => models(b), (m) => m.find((x) => x.id === 'reg-bot')?.version === '2');
    expect(await ask('reg-bot')).toBe(ref2);
    expect(await ask('reg-bot@1')).toBe(ref1); // a pinned version by name@version
    await expect(client.completions.create({ model: 'reg-bot@7', prompt, max_tokens: 2 })).rejects.toMatchObject({ status: 404 });
  });
});
