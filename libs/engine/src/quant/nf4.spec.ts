import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Graph } from '../graph/ir.js';
import { toOnnx } from '../graph/onnx.js';
import { randomArray } from '../graph/gradcheck.js';
import { Session } from '../graph/runtime.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';
import { evaluate, train, type TrainOptions } from '../train/trainer.js';
import { dequantizeNf4, emitNf4Dequant, NF4_CODE_BOOK, quantizeNf4 } from './nf4.js';

describe('NF4', () => {
  it('quantises to the nearest code per 64-block and the in-graph dequantisation equals the host one bit for bit', async () => {
    const shape = [24, 40]; // 960 values: 15 blocks exactly
    const w = { shape, data: Float32Array.from(randomArray(960, 3, -0.2, 0.2)) };
    w.data[5] = 0.9; // one outlier block
    const q = quantizeNf4(w);
    expect(q.packed.length).toBe(480);
    expect(q.absmax.length).toBe(15);
    const host = dequantizeNf4(q);
    for (let i = 0; i < 960; i++) {
      const a = q.absmax[Math.floor(i / 64)]!;
      // nearest-code error: at most half the widest gap of the code book (0.152) times the block scale
      expect(Math.abs(host[i]! - w.data[i]!)).toBeLessThanOrEqual(0.5 * (NF4_CODE_BOOK[1]! - NF4_CODE_BOOK[0]!) * a + 1e-7);
    }
    const g = new Graph('dq');
    const out = emitNf4Dequant(g, 'w', shape);
    g.output(out);
    const s = await Session.create(toOnnx(g), { intraOpNumThreads: 1 });
    const r = await s.run({ 'w.nf4': { dtype: 'uint8', dims: [480], data: q.packed }, 'w.absmax': { dtype: 'float32', dims: [15, 1], data: q.absmax } });
    expect(Buffer.from((r[out]!.data as Float32Array).buffer).equals(Buffer.from(host.buffer))).toBe(true);
    await s.release();
  });

  it('handles sizes that are not a multiple of the block', async () => {
    const w = { shape: [3, 30], data: Float32Array.from(randomArray(90, 9)) };
    const q = quantizeNf4(w);
    const g = new Graph('dq');
    const out = emitNf4Dequant(g, 'w', w.shape);
    g.output(out);
    const s = await Session.create(toOnnx(g), { intraOpNumThreads: 1 });
    const r = await s.run({ 'w.nf4': { dtype: 'uint8', dims: [q.packed.length], data: q.packed }, 'w.absmax': { dtype: 'float32', dims: [2, 1], data: q.absmax } });
    expect(Array.from(r[out]!.data as Float32Array)).toEqual(Array.from(dequantizeNf4(q)));
    await s.release();
  });
});

describe('QLoRA training', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'clara-qlora-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reaches a loss within a few percent of LoRA on the same data, with base weights at ≤ 0.15× fp32', async () => {
    const modelDir = join(root, 'm');
    await writeTinyCheckpoint(modelDir, { hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 270, seed: 5, initStd: 0.3 });
    // next-token prediction over a repeating pattern: a task whose loss plateau is set by the data, not the base model
    const rows: string[] = [];
    for (let k = 0; k < 32; k++) {
      const ids = Array.from({ length: 12 }, (_, t) => 10 + ((k * 5 + t * 3) % 17));
      rows.push(JSON.stringify({ input_ids: ids, labels: ids }));
    }
    const data = join(root, 'd.jsonl');
    await writeFile(data, rows.join('\n') + '\n');
    const o = (method: 'lora' | 'qlora', outDir: string): TrainOptions => ({
      modelDir, dataPath: data, evalDataPath: data, outDir, method, optimizer: 'adamw', lr: 5e-3, weightDecay: 0, steps: 40,
      batchSize: 8, gradAccum: 1, seqLen: 16, rank: 8, alpha: 16, dropout: 0,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], maxGradNorm: 1, seed: 1,
      scheduler: 'constant', warmupSteps: 0, packing: false, threads: 1,
    });
    const lora = await train(o('lora', join(root, 'lora')));
    const qlora = await train(o('qlora', join(root, 'qlora')));
    const start = await evaluate(o('lora', join(root, 'base')));
    expect(start.evalLoss).toBeGreaterThan(2);
    expect(lora.evalLoss!).toBeLessThan(0.1 * start.evalLoss);
    expect(qlora.evalLoss).not.toBe(lora.evalLoss); // the 4-bit base really is a different model
    expect(qlora.baseWeightBytes!.stored / qlora.baseWeightBytes!.fp32).toBeLessThanOrEqual(0.15);
    expect(Math.abs(qlora.evalLoss! - lora.evalLoss!) / lora.evalLoss!).toBeLessThan(0.05);
  });
});
