/**
 * The default runner mode: onnxruntime in a worker thread (runs the BUILT engine, `npm test` builds first).
 * Same answers as the plain-JS reference; concurrent mixed-adapter load through the worker.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '@clara/engine/io/tokenizer';
import type { ServingApp } from '../src/app.js';
import { GreedyReference, postJson, startServing, tinyModelFixture, writeAdapter, type Fixture } from './helpers.js';

let fx: Fixture;
let serving: ServingApp;
let adapter: string;
const prompt = [1, 50, 60, 70, 80];

beforeAll(async () => {
  fx = await tinyModelFixture('tiny', { maxPositionEmbeddings: 256 });
  adapter = await writeAdapter(join(fx.root, 'adapters', 'w'), fx.config, 77, 4);
  serving = await startServing(fx, { CLARA_SERVING_RUNNER: 'worker' });
});

afterAll(async () => {
  await serving?.close();
  await fx?.cleanup();
});

describe('serving with the worker-thread runner', () => {
  it('matches the reference for base and adapter rows, streaming included', async () => {
    expect((await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: 'w', lora_path: adapter })).status).toBe(200);
    const tok = await TextTokenizer.load(fx.modelDir);
    const client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const [base, withAdapter] = await Promise.all([
      client.completions.create({ model: 'tiny', prompt, max_tokens: 12, temperature: 0, ignore_eos: true } as never),
      client.completions.create({ model: 'w', prompt, max_tokens: 12, temperature: 0, ignore_eos: true, stream: true } as never),
    ]);
    let streamed = '';
    for await (const chunk of withAdapter as unknown as AsyncIterable<{ choices: { text: string }[] }>) streamed += chunk.choices[0]?.text ?? '';
    const refBase = tok.decode((await (await GreedyReference.create(fx.modelDir)).generate(prompt, 12)).ids, true);
    const refAdapter = tok.decode((await (await GreedyReference.create(fx.modelDir, adapter)).generate(prompt, 12, 1)).ids, true);
    expect((base as unknown as { choices: { text: string }[] }).choices[0]!.text).toBe(refBase);
    expect(streamed).toBe(refAdapter);
  });

  it('16 concurrent long generations on mixed models all complete while /health keeps answering', async () => {
    const client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const long = Array.from({ length: 16 }, (_, i) => client.completions.create({ model: i % 2 ? 'w' : 'tiny', prompt, max_tokens: 200, temperature: 0, ignore_eos: true } as never));
    while (serving.state.engine.batcher.batchSize < 16) await new Promise((r) => setTimeout(r, 2));
    let answered = 0;
    while (serving.state.engine.batcher.batchSize > 0 && answered < 5) {
      expect((await fetch(`${serving.url}/health`)).status).toBe(200);
      answered++;
    }
    const results = await Promise.all(long);
    expect(results.every((r) => (r as unknown as { usage: { completion_tokens: number } }).usage.completion_tokens === 200)).toBe(true);
    expect(answered).toBeGreaterThan(0);
  });

  it('a dead runner thread makes /health 503 and requests fail in OpenAI shape (no hang)', async () => {
    await (serving.state.engine.runner as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const health = await fetch(`${serving.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ready: false, status: 'unavailable' });
    const res = await postJson(`${serving.url}/v1/completions`, { model: 'tiny', prompt, max_tokens: 3 });
    expect(res.status).toBe(500);
    expect(res.json.error).toMatchObject({ type: 'server_error' });
  });
});
