/** Test fixtures: a tiny random checkpoint, random PEFT adapters, a running serving app, a plain-JS greedy reference. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '@clara/engine/io/checkpoint';
import type { ModelConfig } from '@clara/engine/io/hf-config';
import { loraTensorName, saveAdapter } from '@clara/engine/io/peft';
import { writeTinyCheckpoint } from '@clara/engine/io/tiny-checkpoint';
import type { HostTensor } from '@clara/engine/io/tensor';
import { applyPenalties, argmax, loadLoraWeights, logSoftmax, ReferenceModel } from '@clara/engine/inference/index';
import { randomLora } from '@clara/engine/inference/testing';
import { createLogger } from '@clara/platform';
import { bootstrap, type ServingApp } from '../src/app.js';

export interface Fixture {
  root: string;
  modelsDir: string;
  modelDir: string;
  config: ModelConfig;
  cleanup(): Promise<void>;
}

export async function tinyModelFixture(name = 'tiny', opts: { maxPositionEmbeddings?: number } = {}): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'clara-serving-'));
  const modelsDir = join(root, 'models');
  const modelDir = join(modelsDir, name);
  // initStd large enough that greedy outputs vary from token to token
  const config = await writeTinyCheckpoint(modelDir, { seed: 7, initStd: 0.3, maxPositionEmbeddings: opts.maxPositionEmbeddings ?? 128, vocabSize: 320 });
  return { root, modelsDir, modelDir, config, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Writes a random rank-`rank` PEFT adapter on all linear modules. */
export async function writeAdapter(dir: string, config: ModelConfig, seed: number, rank = 4): Promise<string> {
  const lora = randomLora(config, seed, rank);
  const tensors = new Map<string, HostTensor>();
  for (const [key, f] of lora.factors) {
    const [layer, module] = key.split('.') as [string, string];
    tensors.set(loraTensorName(Number(layer), module, 'A'), f.a);
    tensors.set(loraTensorName(Number(layer), module, 'B'), f.b);
  }
  await saveAdapter(dir, { r: rank, alpha: 2 * rank, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], useRslora: false, baseModel: 'tiny' }, tensors);
  return dir;
}

export async function startServing(fx: Fixture, env: Record<string, string> = {}): Promise<ServingApp> {
  return bootstrap({
    env: {
      CLARA_DATA_DIR: fx.root,
      CLARA_MODELS_DIR: fx.modelsDir,
      CLARA_SERVING_BASE_MODEL: 'tiny',
      CLARA_SECURITY_MODE: 'debug',
      CLARA_SERVING_REGISTRY: 'false',
      CLARA_SERVING_MAX_LORAS: '4',
      CLARA_SERVING_MAX_LORA_RANK: '8',
      // tests run from src/; the worker-thread runner (default) needs the built dist/ and has its own test
      CLARA_SERVING_RUNNER: 'inline',
      LOG_LEVEL: 'warn',
      ...env,
    },
    port: 0,
    host: '127.0.0.1',
    logger: createLogger('serving-test', { level: 'error' }),
  });
}

/** Greedy continuation computed by the independent plain-JS model (no ONNX, no server). */
export class GreedyReference {
  private constructor(private readonly model: ReferenceModel) {}

  static async create(modelDir: string, adapterDir?: string): Promise<GreedyReference> {
    const { config, weights } = await loadCheckpoint(modelDir);
    const model = new ReferenceModel(config, weights, 2);
    if (adapterDir) model.setSlot(1, await loadLoraWeights(adapterDir, config.numLayers));
    return new GreedyReference(model);
  }

  async generate(promptIds: number[], maxTokens: number, slot = 0, penalties = { presence: 0, frequency: 0 }): Promise<{ ids: number[]; logprobs: number[] }> {
    const cache = this.model.newCache();
    const ids: number[] = [];
    const logprobs: number[] = [];
    const counts = new Map<number, number>();
    let logits = (await this.model.forward([{ tokens: promptIds, cache, slot }]))[0]!;
    for (let i = 0; i < maxTokens; i++) {
      const id = argmax(applyPenalties(logits, counts, penalties.presence, penalties.frequency));
      counts.set(id, (counts.get(id) ?? 0) + 1);
      ids.push(id);
      logprobs.push(logSoftmax(logits)[id]!);
      logits = (await this.model.forward([{ tokens: [id], cache, slot }]))[0]!;
    }
    return { ids, logprobs };
  }
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}
