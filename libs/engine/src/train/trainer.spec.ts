import { existsSync } from 'node:fs';
import { readFile, rm, mkdtemp, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter } from '../io/peft.js';
import { mappingRows, tinyTrainOptions } from '../testing.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';
import { listCheckpoints, loadLatestValidCheckpoint, readCheckpoint } from './checkpoint.js';
import { dropoutFeeds, evaluate, type StepReport, train, type TrainOptions } from './trainer.js';

let root: string;
let modelDir: string;
let dataPath: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'clara-train-'));
  modelDir = join(root, 'tiny-llama');
  await writeTinyCheckpoint(modelDir, { architecture: 'LlamaForCausalLM', hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 270, seed: 5, initStd: 0.5 });
  dataPath = join(root, 'map.jsonl');
  await writeFile(dataPath, mappingRows());
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = (outDir: string, o: Partial<TrainOptions> = {}): TrainOptions => tinyTrainOptions({ modelDir, dataPath, outDir }, { evalDataPath: dataPath, ...o });

describe('train()', () => {
  it('LoRA learns a fixed mapping: eval loss falls far; the saved PEFT adapter reloads bit-exactly', async () => {
    const out = join(root, 'learn');
    const before = await evaluate(base(out));
    const steps: StepReport[] = [];
    const r = await train(base(out), { onStep: (s) => steps.push(s) });
    expect(r.steps).toBe(60);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(before.evalLoss).toBeGreaterThan(4);
    expect(r.evalLoss!).toBeLessThan(0.1 * before.evalLoss);
    expect(steps.at(-1)!.loss).toBeLessThan(0.2 * steps[0]!.loss);
    // PEFT layout
    const cfg = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, base_model_name_or_path: 'tiny-llama' });
    const files = await readdir(join(out, 'artifacts'));
    expect(files).toEqual(expect.arrayContaining(['training.onnx', 'eval.onnx', 'optimizer.onnx', 'artifacts.json']));
    // reload: tensors equal the final checkpoint's bit for bit, and evaluating the reloaded adapter gives the same loss
    const adapter = await loadAdapter(out);
    const ck = await readCheckpoint((await listCheckpoints(join(out, 'checkpoints'))).at(-1)!);
    expect(adapter.tensors.size).toBe(2 * 2 * 7);
    for (const [name, t] of adapter.tensors) {
      expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(ck.tensors.get(`param:${name}`)!.data.buffer))).toBe(true);
    }
    const again = await evaluate(base(join(root, 'reeval'), { initAdapter: out }));
    expect(again.evalLoss).toBe(r.evalLoss);
  });

  it('resuming from a checkpoint is bit-identical to an uninterrupted run (dropout, grad accumulation, adamw, cosine)', async () => {
    const o = { steps: 6, saveSteps: 2, dropout: 0.1, gradAccum: 2, batchSize: 4, scheduler: 'cosine' as const, warmupSteps: 2, weightDecay: 0.01 };
    const full: number[] = [];
    await train(base(join(root, 'full'), o), { onStep: (s) => full.push(s.loss) });
    const part: number[] = [];
    const first = await train(base(join(root, 'part'), o), { onStep: (s) => part.push(s.loss), shouldStop: () => part.length >= 3 });
    expect(first.stopped).toBe(true);
    expect(first.steps).toBe(3);
    const rest: number[] = [];
    const r = await train(base(join(root, 'part'), { ...o, resumeFrom: join(root, 'part', 'checkpoints') }), { onStep: (s) => rest.push(s.loss) });
    expect(r.steps).toBe(6);
    expect([...part, ...rest]).toEqual(full);
    const a = await readFile(join(root, 'full', 'adapter_model.safetensors'));
    const b = await readFile(join(root, 'part', 'adapter_model.safetensors'));
    expect(a.equals(b)).toBe(true);
  });

  it('trains Qwen2 from a sharded bf16 checkpoint with tied embeddings (loss falls, SGD, linear schedule)', async () => {
    const q = join(root, 'qwen2');
    await writeTinyCheckpoint(q, { architecture: 'Qwen2ForCausalLM', dtype: 'bfloat16', sharded: true, tied: true, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 270, seed: 9, initStd: 0.5 });
    const losses: number[] = [];
    const r = await train(base(join(root, 'qwen2-out'), { modelDir: q, optimizer: 'sgd', lr: 0.5, scheduler: 'linear', warmupSteps: 3, steps: 30 }), { onStep: (s) => losses.push(s.loss) });
    expect(r.steps).toBe(30);
    expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(0.7 * losses[0]!);
    const cfg = JSON.parse(await readFile(join(root, 'qwen2-out', 'adapter_config.json'), 'utf8'));
    expect(cfg.base_model_name_or_path).toBe('qwen2');
  });

  it('evaluates every evalSteps and stops early when eval loss stops improving for `patience` evals', async () => {
    const out = join(root, 'early');
    const evals: { step: number; evalLoss: number }[] = [];
    // a far too large learning rate: eval loss gets worse, so patience runs out long before 40 steps
    const r = await train(base(out, { optimizer: 'sgd', lr: 8, maxGradNorm: 0, steps: 40, evalSteps: 1, earlyStoppingPatience: 2 }), { onEval: (e) => evals.push(e) });
    expect(r.steps).toBeLessThan(40);
    expect(evals.map((e) => e.step)).toEqual(Array.from({ length: r.steps }, (_, i) => i + 1).slice(0, evals.length));
    const tail = evals.slice(-3).map((e) => e.evalLoss);
    expect(tail[1]! >= tail[0]! || Number.isNaN(tail[1]!)).toBe(true);
    expect((await listCheckpoints(join(out, 'checkpoints'))).at(-1)).toMatch(new RegExp(`checkpoint-0*${r.steps}$`));
  });

  it('dropout keep-masks: drop rate p, reproducible from (seed, step, micro-batch, module), independent per module', () => {
    const built = { dropoutInputs: [{ name: 'a', features: 500 }, { name: 'b', features: 500 }] };
    const m = dropoutFeeds(built, 200, 0.1, 7, 3, 0);
    const a = m.a!.data as Uint8Array;
    const dropped = a.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / a.length;
    expect(Math.abs(dropped - 0.1)).toBeLessThan(0.005);
    expect(Buffer.from(dropoutFeeds(built, 200, 0.1, 7, 3, 0).a!.data as Uint8Array).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(m.b!.data as Uint8Array).equals(Buffer.from(a))).toBe(false);
    expect(Buffer.from(dropoutFeeds(built, 200, 0.1, 7, 4, 0).a!.data as Uint8Array).equals(Buffer.from(a))).toBe(false);
    expect(Buffer.from(dropoutFeeds(built, 200, 0.1, 7, 3, 1).a!.data as Uint8Array).equals(Buffer.from(a))).toBe(false);
  });

  it('a corrupt newest checkpoint is detected and the previous one is used', async () => {
    const out = join(root, 'corrupt');
    await train(base(out, { steps: 4, saveSteps: 2 }));
    const cks = await listCheckpoints(join(out, 'checkpoints'));
    expect(cks.map((c) => c.slice(-7))).toEqual(['0000002', '0000004']);
    const state = join(cks[1]!, 'state.bin');
    const buf = await readFile(state);
    buf[10] = buf[10]! ^ 0xff;
    await writeFile(state, buf);
    const warnings: string[] = [];
    const ck = await loadLatestValidCheckpoint(join(out, 'checkpoints'), (m) => warnings.push(m));
    expect(ck.meta.step).toBe(2);
    expect(warnings[0]).toMatch(/checksum mismatch/);
  });
});

describe('executionProvider', () => {
  it('reaches the sessions train()/evaluate() open: cuda runs on a GPU host, elsewhere onnxruntime fails loading its CUDA provider', async () => {
    const result = await evaluate(base(join(root, 'cuda'), { executionProvider: 'cuda' })).then(
      (r) => r,
      (err: Error) => err.message,
    );
    if (typeof result === 'string') expect(result).toMatch(/Cuda|CUDA|providers_(cuda|shared)/);
    else {
      expect(existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia')).toBe(true);
      expect(Number.isFinite(result.evalLoss)).toBe(true);
    }
  });
});
