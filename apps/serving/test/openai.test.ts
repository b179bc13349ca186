/**
 * E2E: the running serving app through the official `openai` client (and plain fetch for vLLM's adapter routes),
 * checked against the independent plain-JS model for the exact greedy tokens.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '@clara/engine/io/tokenizer';
import type { ServingApp } from '../src/app.js';
import { GreedyReference, postJson, startServing, tinyModelFixture, writeAdapter, type Fixture } from './helpers.js';

let fx: Fixture;
let serving: ServingApp;
let client: OpenAI;
let tokenizer: TextTokenizer;
let adapterA: string;
let adapterB: string;
const prompt = [1, 72, 101, 108, 108, 111, 44, 32];

// vLLM's extension: keep generating through EOS so outputs have the requested length
const extra = { ignore_eos: true } as Record<string, unknown>;

beforeAll(async () => {
  fx = await tinyModelFixture();
  adapterA = await writeAdapter(join(fx.root, 'adapters', 'a'), fx.config, 101, 4);
  adapterB = await writeAdapter(join(fx.root, 'adapters', 'b'), fx.config, 202, 8);
  serving = await startServing(fx);
  client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: 'unused-in-debug-mode', maxRetries: 0 });
  tokenizer = await TextTokenizer.load(fx.modelDir);
});

afterAll(async () => {
  await serving?.close();
  await fx?.cleanup();
});

describe('OpenAI-compatible serving', () => {
  it('lists the base model, loads an adapter with vLLM\'s route and lists it too', async () => {
    const before = await client.models.list();
    expect(before.data.map((m) => m.id)).toEqual(['tiny']);
    const load = await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: 'alpha', lora_path: adapterA });
    expect(load.status).toBe(200);
    const after = await client.models.list();
    expect(after.data.map((m) => m.id)).toEqual(['tiny', 'alpha']);
    expect(after.data[1]).toMatchObject({ parent: 'tiny', root: adapterA });
  });

  it('greedy completion (token-id prompt) equals the plain-JS reference, base and adapter', async () => {
    const base = await GreedyReference.create(fx.modelDir);
    const withA = await GreedyReference.create(fx.modelDir, adapterA);
    for (const [model, ref, slot] of [
      ['tiny', base, 0],
      ['alpha', withA, 1],
    ] as const) {
      const expected = await ref.generate(prompt, 10, slot);
      const res = await client.completions.create({ model, prompt, max_tokens: 10, temperature: 0, logprobs: 2, ...extra });
      expect(res.object).toBe('text_completion');
      expect(res.choices[0]!.text).toBe(tokenizer.decode(expected.ids, true));
      expect(res.choices[0]!.finish_reason).toBe('length');
      expect(res.usage).toMatchObject({ prompt_tokens: prompt.length, completion_tokens: 10, total_tokens: prompt.length + 10 });
      const lp = res.choices[0]!.logprobs!;
      expect(lp.tokens).toEqual(expected.ids.map((id) => tokenizer.decode([id])));
      lp.token_logprobs!.forEach((v, i) => expect(v).toBeCloseTo(expected.logprobs[i]!, 4));
      for (const [i, top] of lp.top_logprobs!.entries()) {
        // at most 2 alternatives plus the chosen token (byte tokens may render alike and share a key)
        expect(Object.keys(top).length).toBeGreaterThanOrEqual(1);
        expect(Object.keys(top).length).toBeLessThanOrEqual(3);
        expect(Math.max(...Object.values(top))).toBeCloseTo(lp.token_logprobs![i]!, 5); // greedy = the most likely
      }
      expect(lp.text_offset).toEqual([...lp.text_offset!].sort((a, b) => a - b));
    }
    const a = await client.completions.create({ model: 'alpha', prompt, max_tokens: 10, temperature: 0, ...extra });
    const b = await client.completions.create({ model: 'tiny', prompt, max_tokens: 10, temperature: 0, ...extra });
    expect(a.choices[0]!.text).not.toBe(b.choices[0]!.text);
  });

  it('text prompts are tokenized with BOS; seeded sampling is reproducible; n gives several choices', async () => {
    const base = await GreedyReference.create(fx.modelDir);
    const text = 'Hello world';
    const expected = await base.generate(tokenizer.encode(text, true), 6);
    const res = await client.completions.create({ model: 'tiny', prompt: text, max_tokens: 6, temperature: 0, ...extra });
    expect(res.choices[0]!.text).toBe(tokenizer.decode(expected.ids, true));
    const s1 = await client.completions.create({ model: 'tiny', prompt: text, max_tokens: 12, temperature: 1, top_p: 0.9, seed: 42, n: 3, ...extra });
    const s2 = await client.completions.create({ model: 'tiny', prompt: text, max_tokens: 12, temperature: 1, top_p: 0.9, seed: 42, n: 3, ...extra });
    expect(s1.choices).toHaveLength(3);
    expect(s1.choices.map((c) => c.text)).toEqual(s2.choices.map((c) => c.text));
    expect(new Set(s1.choices.map((c) => c.text)).size).toBeGreaterThan(1);
  });

  it('presence and frequency penalties change greedy decoding exactly as the reference does', async () => {
    const base = await GreedyReference.create(fx.modelDir);
    const plain = await base.generate(prompt, 24);
    const penalized = await base.generate(prompt, 24, 0, { presence: 1.5, frequency: 1 });
    expect(penalized.ids).not.toEqual(plain.ids); // the random model repeats itself; the penalties must matter
    const res = await client.completions.create({ model: 'tiny', prompt, max_tokens: 24, temperature: 0, presence_penalty: 1.5, frequency_penalty: 1, ...extra });
    expect(res.choices[0]!.text).toBe(tokenizer.decode(penalized.ids, true));
  });

  it('stop sequences cut the text before the stop', async () => {
    const full = (await client.completions.create({ model: 'tiny', prompt, max_tokens: 16, temperature: 0, ...extra })).choices[0]!.text;
    const stop = full.slice(5, 7);
    const cut = full.indexOf(stop);
    const res = await client.completions.create({ model: 'tiny', prompt, max_tokens: 16, temperature: 0, stop: [stop], ...extra });
    expect(res.choices[0]!.text).toBe(full.slice(0, cut));
    expect(res.choices[0]!.finish_reason).toBe('stop');
  });

  it('streams completions and chat as SSE, with the same text as without streaming', async () => {
    const plain = await client.completions.create({ model: 'alpha', prompt, max_tokens: 12, temperature: 0, ...extra });
    const stream = await client.completions.create({ model: 'alpha', prompt, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true }, ...extra });
    let text = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.text;
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(plain.choices[0]!.text);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ completion_tokens: 12 });

    const messages = [{ role: 'system' as const, content: 'You are terse.' }, { role: 'user' as const, content: 'Hi there' }];
    const chat = await client.chat.completions.create({ model: 'alpha', messages, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3, ...extra });
    expect(chat.object).toBe('chat.completion');
    expect(chat.choices[0]!.message.role).toBe('assistant');
    const content = chat.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(10);
    expect(content[0]!.top_logprobs).toHaveLength(3);
    // the chat template renders the conversation; the reference continues the same token ids
    const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages, true), false);
    const expected = await (await GreedyReference.create(fx.modelDir, adapterA)).generate(ids, 10, 1);
    expect(chat.choices[0]!.message.content).toBe(tokenizer.decode(expected.ids, true));
    let streamed = '';
    let role: string | undefined;
    for await (const chunk of await client.chat.completions.create({ model: 'alpha', messages, max_tokens: 10, temperature: 0, stream: true, ...extra })) {
      role ??= chunk.choices[0]?.delta.role;
      streamed += chunk.choices[0]?.delta.content ?? '';
    }
    expect(role).toBe('assistant');
    expect(streamed).toBe(chat.choices[0]!.message.content);
  });

  it('answers errors in OpenAI\'s shape: unknown model 404, context overflow 400, malformed bodies 400 naming the field', async () => {
    await expect(client.completions.create({ model: 'nope', prompt: 'x', max_tokens: 2 })).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });
    await expect(client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 500 })).rejects.toMatchObject({ status: 400, param: 'max_tokens', code: 'context_length_exceeded' });
    await expect(client.chat.completions.create({ model: 'tiny', messages: [], max_tokens: 2 })).rejects.toMatchObject({ status: 400, param: 'messages' });
    const cases: [unknown, string][] = [
      [{ model: 'tiny' }, 'prompt'],
      [{ model: 'tiny', prompt: 'x', temperature: 'hot' }, 'temperature'],
      [{ model: 'tiny', prompt: 'x', max_tokens: 0 }, 'max_tokens'],
      [{ model: 'tiny', prompt: [1, 99999], max_tokens: 2 }, 'prompt'],
      [{ prompt: 'x' }, 'model'],
      ['{"model": "tiny", "prompt": ', 'body'],
    ];
    for (const [body, param] of cases) {
      const res = await postJson(`${serving.url}/v1/completions`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error).toMatchObject({ param, type: 'invalid_request_error' });
      expect(typeof res.json.error.message).toBe('string');
    }
    const badLoad = await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: 'x', lora_path: join(fx.root, 'missing') });
    expect(badLoad.status).toBe(400);
    expect(badLoad.json.error.param).toBe('lora_path');
  });

  it('a client that disconnects mid-stream frees its batch slot at once', async () => {
    const controller = new AbortController();
    const res = await fetch(`${serving.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'alpha', prompt, max_tokens: 100, temperature: 0, stream: true, ignore_eos: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // first chunk arrived: the request is in the batch
    expect(serving.state.engine.batcher.batchSize).toBe(1);
    controller.abort();
    const t0 = Date.now();
    while (serving.state.engine.batcher.batchSize > 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
    expect(serving.state.engine.batcher.batchSize).toBe(0);
    const metrics = await (await fetch(`${serving.url}/metrics`)).text();
    expect(metrics).toMatch(/clara_serving_requests_aborted_total\{model="alpha"\} 1/);
  });

  it('hot swap under concurrent requests: zero failures, running requests finish on their version', async () => {
    await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: 'swap', lora_path: adapterA });
    const v1 = tokenizer.decode((await (await GreedyReference.create(fx.modelDir, adapterA)).generate(prompt, 30, 1)).ids, true);
    const v2 = tokenizer.decode((await (await GreedyReference.create(fx.modelDir, adapterB)).generate(prompt, 30, 1)).ids, true);
    expect(v1).not.toBe(v2);
    const run = () => client.completions.create({ model: 'swap', prompt, max_tokens: 30, temperature: 0, ...extra }).then((r) => r.choices[0]!.text);
    let settled = 0;
    const before = Array.from({ length: 8 }, () => run().finally(() => settled++));
    // every "before" request holds its lease once it is in the batch (or already done)
    while (serving.state.engine.batcher.batchSize + settled < 8) await new Promise((r) => setTimeout(r, 2));
    const swap = await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: 'swap', lora_path: adapterB });
    expect(swap.status).toBe(200);
    const after = Array.from({ length: 8 }, run);
    const results = await Promise.allSettled([...before, ...after]);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const texts = results.map((r) => (r as PromiseFulfilledResult<string>).value);
    expect(texts.slice(0, 8)).toEqual(Array(8).fill(v1));
    expect(texts.slice(8)).toEqual(Array(8).fill(v2));
    expect(serving.state.engine.pool.residentCount()).toBe(2); // alpha + swap@v2; v1's slot was freed
  });

  it('bounded slots: loading more adapters than slots evicts the least recently used, which reloads on demand', async () => {
    for (const n of ['e1', 'e2', 'e3']) await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: n, lora_path: adapterA });
    // 4 slots: swap, e1, e2, e3 resident; alpha (least recently used) was evicted but is still served
    const models = (await client.models.list()).data as unknown as { id: string; resident: boolean }[];
    expect(models.find((m) => m.id === 'alpha')!.resident).toBe(false);
    const res = await client.completions.create({ model: 'alpha', prompt, max_tokens: 3, temperature: 0 });
    expect(res.choices).toHaveLength(1);
    const metrics = await (await fetch(`${serving.url}/metrics`)).text();
    expect(metrics).toMatch(/clara_serving_adapter_evictions_total\{adapter="alpha"\} 1/);
    expect(metrics).toMatch(/clara_serving_time_to_first_token_seconds_count\{model="alpha"\} \d+/);
    expect(metrics).toMatch(/clara_serving_inter_token_latency_seconds_bucket\{le="[^"]+",model="swap"\} \d+/);
    expect(metrics).toMatch(/clara_serving_loaded_adapters 4/);
    expect(metrics).toMatch(/clara_serving_generation_tokens_total\{model="tiny"\} \d+/);
  });

  it('unload removes the adapter (then 404), health is ready', async () => {
    const un = await postJson(`${serving.url}/v1/unload_lora_adapter`, { lora_name: 'e1' });
    expect(un.status).toBe(200);
    await expect(client.completions.create({ model: 'e1', prompt, max_tokens: 2 })).rejects.toMatchObject({ status: 404 });
    const again = await postJson(`${serving.url}/v1/unload_lora_adapter`, { lora_name: 'e1' });
    expect(again.status).toBe(404);
    const health = await fetch(`${serving.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ready: true, base_model: 'tiny' });
  });

  it('close() drains: health turns 503 at once, running requests still finish', async () => {
    const running = client.completions.create({ model: 'tiny', prompt, max_tokens: 100, temperature: 0, ...extra });
    while (serving.state.engine.batcher.batchSize < 1) await new Promise((r) => setTimeout(r, 2));
    const closing = serving.close();
    expect((await fetch(`${serving.url}/health`)).status).toBe(503);
    const res = await running;
    expect(res.usage?.completion_tokens).toBe(100);
    await closing;
  });
});
