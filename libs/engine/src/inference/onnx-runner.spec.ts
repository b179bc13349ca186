import { afterAll, describe, expect, it } from 'vitest';
import { toOnnx } from '../graph/onnx.js';
import { Session } from '../graph/runtime.js';
import { batchFeeds, buildEvalGraph } from '../model/training-graph.js';
import { OnnxRunner } from './onnx-runner.js';
import { logSoftmax } from './sampling.js';
import { mergeLora, ReferenceModel } from './reference-model.js';
import { randomLora, randomWeights, tinyConfig } from './testing.js';
import type { ModelRunner } from './types.js';

function maxRelErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  return err / scale;
}

/** Prefill a prompt, then decode `steps` given tokens one at a time; returns every logits vector. */
async function trace(runner: ModelRunner, prompt: number[], next: number[], slot = 0): Promise<Float32Array[]> {
  const cache = runner.newCache();
  const [prefill] = await runner.forward([{ tokens: prompt, cache, slot }], { allPositions: true });
  const out = [prefill!];
  for (const t of next) out.push((await runner.forward([{ tokens: [t], cache, slot }]))[0]!);
  return out;
}

const runners: ModelRunner[] = [];
afterAll(async () => {
  for (const r of runners) await r.dispose();
});

describe.each([
  ['llama GQA', tinyConfig()],
  ['qwen2 with q/k/v bias', tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true, numKvHeads: 1, tieWordEmbeddings: true })],
])('ONNX inference graph (%s)', (_name, config) => {
  const weights = randomWeights(config, 11);
  const prompt = [1, 5, 9, 17, 3, 40];
  const next = [7, 22, 31, 4];

  it('prefill and step-by-step decode with the KV cache match the plain-JS reference', async () => {
    const onnx = await OnnxRunner.create(config, weights, { numSlots: 4, maxRank: 8 });
    runners.push(onnx);
    const ref = new ReferenceModel(config, weights);
    const a = await trace(onnx, prompt, next);
    const b = await trace(ref, prompt, next);
    expect(a[0]!.length).toBe(prompt.length * config.vocabSize);
    for (let i = 0; i < a.length; i++) expect(maxRelErr(a[i]!, b[i]!)).toBeLessThan(1e-5);
    // decode with the cache equals a fresh prefill of the whole sequence
    const full = await trace(ref, [...prompt, ...next], []);
    const lastFull = full[0]!.slice(-config.vocabSize);
    expect(maxRelErr(a[a.length - 1]!, lastFull)).toBeLessThan(1e-5);
  });

  it("the engine's eval graph (the trainer's forward) gives the same loss as the inference graph's logits", async () => {
    const onnx = await OnnxRunner.create(config, weights, { numSlots: 2, maxRank: 1 });
    runners.push(onnx);
    const seq = [...prompt, ...next];
    const [logits] = await onnx.forward([{ tokens: seq, cache: onnx.newCache(), slot: 0 }], { allPositions: true });
    let nll = 0;
    for (let t = 0; t + 1 < seq.length; t++) nll -= logSoftmax(logits!.subarray(t * config.vocabSize, (t + 1) * config.vocabSize))[seq[t + 1]!]!;
    const built = buildEvalGraph({ config, weights, batch: 1, seq: seq.length });
    const session = await Session.create(toOnnx(built.graph), { intraOpNumThreads: 1 });
    const { feeds, count } = batchFeeds(config, [{ inputIds: seq, labels: seq }], 1, seq.length, seq.length - 1);
    const out = await session.run(feeds);
    await session.release();
    expect(count).toBe(seq.length - 1);
    expect(Math.abs(Number(out[built.loss]!.data[0]) - nll / count) / (nll / count)).toBeLessThan(1e-5);
  });

  it('an adapter in a slot gives the logits of the model with the adapter merged into its weights', async () => {
    const lora = randomLora(config, 5, 3);
    const onnx = await OnnxRunner.create(config, weights, { numSlots: 4, maxRank: 8 });
    runners.push(onnx);
    onnx.setSlot(2, lora);
    const merged = await OnnxRunner.create(config, mergeLora(weights, lora, config.numLayers), { numSlots: 2, maxRank: 1 });
    runners.push(merged);
    const ref = new ReferenceModel(config, weights);
    ref.setSlot(1, lora);
    const withSlot = await trace(onnx, prompt, next, 2);
    const withMerged = await trace(merged, prompt, next, 0);
    const withRef = await trace(ref, prompt, next, 1);
    const base = await trace(onnx, prompt, next, 0);
    for (let i = 0; i < withSlot.length; i++) {
      expect(maxRelErr(withSlot[i]!, withMerged[i]!)).toBeLessThan(1e-5);
      expect(maxRelErr(withSlot[i]!, withRef[i]!)).toBeLessThan(1e-5);
      expect(maxRelErr(withSlot[i]!, base[i]!)).toBeGreaterThan(1e-2); // the adapter really changes the output
    }
  });

  it('a batch mixing adapters, prompt lengths and cache lengths gives each row what it gets alone', async () => {
    const onnx = await OnnxRunner.create(config, weights, { numSlots: 4, maxRank: 8 });
    runners.push(onnx);
    onnx.setSlot(1, randomLora(config, 1, 2, ['q_proj', 'v_proj']));
    onnx.setSlot(3, randomLora(config, 3, 8));
    const seqs = [
      { prompt: [1, 2, 3], slot: 1 },
      { prompt: [9, 8, 7, 6, 5, 4, 3], slot: 0 },
      { prompt: [30], slot: 3 },
      { prompt: [11, 12, 13, 14], slot: 1 },
    ];
    const alone = [];
    for (const s of seqs) alone.push(await trace(onnx, s.prompt, [5, 6, 7], s.slot));
    // together: the third row joins late (after one decode step of the others), as continuous batching does
    const caches = seqs.map(() => onnx.newCache());
    const got: Float32Array[][] = seqs.map(() => []);
    const early = [0, 1, 3];
    const pre = await onnx.forward(early.map((i) => ({ tokens: seqs[i]!.prompt, cache: caches[i]!, slot: seqs[i]!.slot })), { allPositions: true });
    early.forEach((i, k) => got[i]!.push(pre[k]!));
    const step1 = await onnx.forward(early.map((i) => ({ tokens: [5], cache: caches[i]!, slot: seqs[i]!.slot })));
    early.forEach((i, k) => got[i]!.push(step1[k]!));
    const mixed = await onnx.forward([
      { tokens: [6], cache: caches[0]!, slot: 1 },
      { tokens: seqs[2]!.prompt, cache: caches[2]!, slot: 3 },
      { tokens: [6], cache: caches[1]!, slot: 0 },
      { tokens: [6], cache: caches[3]!, slot: 1 },
    ], { allPositions: false });
    got[0]!.push(mixed[0]!);
    got[2]!.push(mixed[1]!);
    got[1]!.push(mixed[2]!);
    got[3]!.push(mixed[3]!);
    for (const i of [0, 1, 3]) {
      expect(maxRelErr(got[i]![0]!, alone[i]![0]!)).toBeLessThan(1e-5);
      for (let s = 1; s < got[i]!.length; s++) expect(maxRelErr(got[i]![s]!, alone[i]![s]!)).toBeLessThan(1e-5);
    }
    expect(maxRelErr(got[2]![0]!, alone[2]![0]!.slice(-config.vocabSize))).toBeLessThan(1e-5);
  });
});
