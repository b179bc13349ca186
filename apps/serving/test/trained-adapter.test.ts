/**
 * The user's path end to end: the engine's trainer really trains a LoRA adapter (PEFT dir), the serving app loads it
 * by name, and the openai client gets the learned answers — streamed — while the base model does not know them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { train } from '@clara/engine';
import { writeTinyCheckpoint } from '@clara/engine/io/tiny-checkpoint';
import { TextTokenizer } from '@clara/engine/io/tokenizer';
import { MAPPING_PAIRS, mappingRows, tinyTrainOptions } from '@clara/engine/testing';
import { createLogger } from '@clara/platform';
import { bootstrap, type ServingApp } from '../src/app.js';

let root: string;
let serving: ServingApp;
let adapterDir: string;
// a mapping the random base model cannot know: after [BOS, x, SEP] comes y(x)
const pairs = MAPPING_PAIRS;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'clara-serving-trained-'));
  const modelDir = join(root, 'models', 'tiny');
  await writeTinyCheckpoint(modelDir, { hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 270, seed: 5, initStd: 0.5 });
  const dataPath = join(root, 'map.jsonl');
  await writeFile(dataPath, mappingRows());
  const result = await train(tinyTrainOptions({ modelDir, dataPath, outDir: join(root, 'run') }));
  adapterDir = result.adapterDir;
  serving = await bootstrap({
    env: { CLARA_DATA_DIR: root, CLARA_SERVING_BASE_MODEL: 'tiny', CLARA_SECURITY_MODE: 'debug', CLARA_SERVING_REGISTRY: 'false', CLARA_SERVING_RUNNER: 'inline', LOG_LEVEL: 'error' },
    port: 0,
    host: '127.0.0.1',
    logger: createLogger('serving-test', { level: 'error' }),
  });
}, 180_000);

afterAll(async () => {
  await serving?.close();
  await rm(root, { recursive: true, force: true });
});

describe('a trained adapter served by name', () => {
  it('answers the learned mapping through the openai client (and the base model does not)', async () => {
    const load = await fetch(`${serving.url}/v1/load_lora_adapter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lora_name: 'mapper', lora_path: adapterDir }) });
    expect(load.status).toBe(200);
    const client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const firstToken = async (model: string, x: number) => {
      const res = await client.completions.create({ model, prompt: [1, x, 3], max_tokens: 1, temperature: 0, logprobs: 1, ignore_eos: true } as never);
      return (res as unknown as { choices: { logprobs: { tokens: string[] } }[] }).choices[0]!.logprobs.tokens[0];
    };
    let adapterRight = 0;
    let baseRight = 0;
    const tok = await TextTokenizer.load(join(root, 'models', 'tiny'));
    for (const { x, y } of pairs) {
      const want = tok.decode([y]);
      if ((await firstToken('mapper', x)) === want) adapterRight++;
      if ((await firstToken('tiny', x)) === want) baseRight++;
    }
    expect(adapterRight / pairs.length).toBeGreaterThanOrEqual(0.75);
    expect(baseRight / pairs.length).toBeLessThanOrEqual(0.25);

    const messages = [{ role: 'user' as const, content: 'hello' }];
    const whole = await client.chat.completions.create({ model: 'mapper', messages, max_tokens: 6, temperature: 0 });
    let streamed = '';
    const stream = await client.chat.completions.create({ model: 'mapper', messages, max_tokens: 6, stream: true, temperature: 0 });
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(whole.choices[0]!.message.content);
    const metrics = await (await fetch(`${serving.url}/metrics`)).text();
    expect(metrics).toMatch(/clara_serving_time_to_first_token_seconds_count\{model="mapper"\} [1-9]/);
  });
});
