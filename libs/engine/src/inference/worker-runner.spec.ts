// Runs the BUILT worker (libs/engine/dist, `npm run build` — `npm test` builds first).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../io/checkpoint.js';
import type { ModelConfig } from '../io/hf-config.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';
import { OnnxRunner } from './onnx-runner.js';
import { randomLora } from './testing.js';
import type { ModelRunner } from './types.js';
import { WorkerRunner } from './worker-runner.js';

let dir: string;
let config: ModelConfig;
let inline: OnnxRunner;
let worker: WorkerRunner;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clara-worker-runner-'));
  config = await writeTinyCheckpoint(join(dir, 'm'), { hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 270, seed: 2, initStd: 0.3 });
  const { weights } = await loadCheckpoint(join(dir, 'm'));
  inline = await OnnxRunner.create(config, weights, { numSlots: 3, maxRank: 4 });
  worker = await WorkerRunner.create(join(dir, 'm'), config, { numSlots: 3, maxRank: 4, intraOpThreads: 1 });
  for (const r of [inline, worker] as ModelRunner[]) {
    r.setSlot(1, randomLora(config, 1, 4));
    r.setSlot(2, randomLora(config, 2, 2));
  }
});

afterAll(async () => {
  await inline?.dispose();
  await worker?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function run(r: ModelRunner): Promise<Float32Array[]> {
  const a = r.newCache();
  const b = r.newCache();
  const out = await r.forward([
    { tokens: [1, 5, 9, 12], cache: a, slot: 1 },
    { tokens: [1, 200], cache: b, slot: 2 },
  ]);
  out.push(...(await r.forward([{ tokens: [7], cache: a, slot: 1 }, { tokens: [8], cache: b, slot: 0 }])));
  r.releaseCache?.(a);
  const c = r.newCache();
  out.push(...(await r.forward([{ tokens: [3, 4], cache: c, slot: 2 }, { tokens: [9], cache: b, slot: 2 }])));
  expect(b.length).toBe(4);
  return out;
}

describe('WorkerRunner (onnxruntime in a worker thread)', () => {
  it('gives the same logits as the inline runner, caches and slots included', async () => {
    const want = await run(inline);
    const got = await run(worker);
    expect(got).toHaveLength(want.length);
    got.forEach((g, i) => {
      expect(g.length).toBe(config.vocabSize);
      for (let k = 0; k < g.length; k++) expect(g[k]).toBeCloseTo(want[i]![k]!, 5);
    });
  });

  it('rejects adapters that do not fit before they reach the worker, and reports forward errors', async () => {
    const bad = randomLora({ ...config, hiddenSize: 16 }, 3, 2);
    expect(() => worker.setSlot(1, bad)).toThrow(/do not fit/);
    await expect(worker.forward([{ tokens: [1], cache: worker.newCache(), slot: 9 }])).rejects.toThrow(/slot 9/);
    // the worker is still healthy
    expect(await worker.forward([{ tokens: [1, 2], cache: worker.newCache(), slot: 0 }])).toHaveLength(1);
  });
});
