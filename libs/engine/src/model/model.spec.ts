import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../io/checkpoint.js';
import type { ModelConfig } from '../io/hf-config.js';
import type { HostTensor } from '../io/tensor.js';
import { writeTinyCheckpoint, type TinyCheckpointOptions } from '../io/tiny-checkpoint.js';
import { gradCheck, randomArray } from '../graph/gradcheck.js';
import { toOnnx } from '../graph/onnx.js';
import { Session, f32, f64, type HostValue } from '../graph/runtime.js';
import { LINEAR_MODULES, loraParams } from './llama.js';
import { referenceLoss } from './reference.js';
import { batchFeeds, buildEvalGraph, emitLoss, type Example } from './training-graph.js';

const small = { hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 270, initStd: 0.3 };
const variants: [string, TinyCheckpointOptions][] = [
  ['llama (untied)', { architecture: 'LlamaForCausalLM', ...small }],
  ['llama (tied, MHA)', { architecture: 'LlamaForCausalLM', tied: true, ...small, numKvHeads: 4 }],
  ['mistral', { architecture: 'MistralForCausalLM', ...small }],
  ['qwen2 (q/k/v bias, tied)', { architecture: 'Qwen2ForCausalLM', tied: true, ...small }],
];

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'clara-model-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function load(name: string, o: TinyCheckpointOptions): Promise<{ config: ModelConfig; weights: Map<string, HostTensor> }> {
  const dir = join(root, name.replace(/\W+/g, '_'));
  await writeTinyCheckpoint(dir, { seed: 3, ...o });
  const ck = await loadCheckpoint(dir);
  // random non-zero biases so the bias path is exercised (the generator may write zeros)
  let s = 100;
  for (const [k, t] of ck.weights) if (k.endsWith('.bias')) t.data.set(Float32Array.from(randomArray(t.data.length, s++, -0.5, 0.5)));
  return ck;
}

function randomLora(c: ModelConfig, r: number, seed: number): Map<string, HostTensor> {
  const m = new Map<string, HostTensor>();
  for (const p of loraParams(c, r, [...LINEAR_MODULES])) m.set(p.name, { shape: p.shape, data: Float32Array.from(randomArray(p.shape[0] * p.shape[1], seed++, -0.4, 0.4)) });
  return m;
}

const examples: Example[] = [
  { inputIds: [1, 5, 9, 13, 2, 7], labels: [-100, -100, 9, 13, 2, 7] },
  { inputIds: [1, 30, 4, 22], labels: [1, 30, 4, 22] },
];

describe('Llama-family loss graph', () => {
  for (const [name, opts] of variants) {
    it(`${name}: fp32 ONNX loss equals the float64 reference (padding, ignored labels, LoRA on all targets)`, async () => {
      const { config, weights } = await load(name, opts);
      const lora = randomLora(config, 2, 11);
      const scale = 8 / 2;
      const seq = 7; // longer than every example: exercises right padding
      const built = buildEvalGraph({ config, weights, batch: 2, seq, lora: { r: 2, scale, targets: [...LINEAR_MODULES], dropout: 0 } });
      const s = await Session.create(toOnnx(built.graph), { intraOpNumThreads: 1 });
      const total = examples.reduce((a, e) => a + e.labels.slice(1).filter((l) => l !== -100).length, 0);
      const { feeds, count } = batchFeeds(config, examples, 2, seq, total);
      expect(count).toBe(total);
      for (const p of built.params) feeds[p.name] = f32(lora.get(p.name)!.data, p.shape);
      const loss = (await s.run(feeds))[built.loss]!.data[0] as number;
      const ref = referenceLoss(config, weights, examples, { tensors: lora, scale, targets: [...LINEAR_MODULES] });
      expect(Math.abs(loss - ref) / ref).toBeLessThan(2e-6);
      await s.release();
    });

    it(`${name}: LoRA gradients of the whole model match central differences (float64, with dropout masks)`, async () => {
      const { config, weights } = await load(name, opts);
      const seq = 6;
      const spec = { config, weights, batch: 2, seq, dtype: 'float64' as const, lora: { r: 2, scale: 1.5, targets: [...LINEAR_MODULES], dropout: 0.2 } };
      const total = 8;
      const { feeds } = batchFeeds(config, examples, 2, seq, total, 'float64');
      const all: Record<string, HostValue> = { ...feeds };
      const params = loraParams(config, 2, [...LINEAR_MODULES]);
      let seed = 40;
      for (const p of params) all[p.name] = f64(randomArray(p.shape[0] * p.shape[1], seed++, -0.5, 0.5), p.shape);
      let wrt: string[] = [];
      const r = await gradCheck(
        (g) => {
          const b = emitLoss(g, spec, true);
          for (const d of b.dropoutInputs) {
            const m = Uint8Array.from(randomArray(2 * seq * d.features, seed++, 0, 1), (u) => (u < 0.2 ? 0 : 1));
            all[d.name] = { dtype: 'uint8', dims: [2 * seq, d.features], data: m };
          }
          wrt = b.params.map((p) => p.name);
          return b.loss;
        },
        all,
        params.map((p) => p.name),
        { maxPerTensor: 3, h: 1e-5 },
      );
      expect(wrt.length).toBe(params.length);
      expect(r.checked).toBeGreaterThanOrEqual(params.length * 3);
      expect(r.maxRelErr, JSON.stringify(r.worst)).toBeLessThan(1e-6);
    });
  }

  it('mistral sliding window: keys further back than the window are masked, as in the reference', async () => {
    const { config, weights } = await load('mistral window', variants[2]![1]);
    const built = buildEvalGraph({ config, weights, batch: 2, seq: 6 });
    const s = await Session.create(toOnnx(built.graph), { intraOpNumThreads: 1 });
    const run = async (window: number) => (await s.run(batchFeeds(config, examples, 2, 6, 7, 'float32', window).feeds))[built.loss]!.data[0] as number;
    const windowed = await run(3);
    const ref = referenceLoss(config, weights, examples, undefined, 3);
    expect(Math.abs(windowed - ref) / ref).toBeLessThan(2e-6);
    expect(Math.abs(windowed - (await run(Infinity)))).toBeGreaterThan(1e-4);
    await s.release();
  });

  it('qwen2, no dropout, targets q/v/gate/down only: fused-group LoRA gradients match central differences', async () => {
    const { config, weights } = await load('qwen2 subset', variants[3]![1]);
    const targets = ['q_proj', 'v_proj', 'gate_proj', 'down_proj'];
    const seq = 6;
    const spec = { config, weights, batch: 2, seq, dtype: 'float64' as const, lora: { r: 3, scale: 0.7, targets, dropout: 0 } };
    const { feeds } = batchFeeds(config, examples, 2, seq, 8, 'float64');
    const all: Record<string, HostValue> = { ...feeds };
    const params = loraParams(config, 3, targets);
    let seed = 400;
    for (const p of params) all[p.name] = f64(randomArray(p.shape[0] * p.shape[1], seed++, -0.5, 0.5), p.shape);
    const r = await gradCheck((g) => emitLoss(g, spec, false).loss, all, params.map((p) => p.name), { maxPerTensor: 3, h: 1e-5 });
    expect(r.checked).toBeGreaterThanOrEqual(params.length * 3);
    expect(r.maxRelErr, JSON.stringify(r.worst)).toBeLessThan(1e-6);
  });
});
