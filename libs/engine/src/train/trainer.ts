// THE training entry point (CLI and worker): builds the training / eval / optimizer graphs for the checkpoint,
// writes them to <outDir>/artifacts, runs them with onnxruntime, checkpoints and resumes bit-exactly.
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { prepareData } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { Rng } from '../data/rng.js';
import { loadCheckpoint } from '../io/checkpoint.js';
import type { ModelConfig } from '../io/hf-config.js';
import { loadAdapter, loraScale, saveAdapter } from '../io/peft.js';
import type { HostTensor } from '../io/tensor.js';
import { TextTokenizer } from '../io/tokenizer.js';
import type { Graph } from '../graph/ir.js';
import { toOnnx, type ExternalPlan } from '../graph/onnx.js';
import type { ExecutionProvider } from '../graph/execution-provider.js';
import { type HostValue, Session, type SessionOptions } from '../graph/runtime.js';
import { loraParams, type LoraParam } from '../model/llama.js';
import { batchFeeds, type BuiltGraph, buildEvalGraph, buildTrainingGraph, countTargets, type Example, type GraphSpec } from '../model/training-graph.js';
import { ADAMW_DEFAULTS, buildOptimizerGraph, type OptimizerHyper, optimizerScalars } from '../optim/optimizer.js';
import { lrFactor, type Scheduler } from '../optim/schedule.js';
import { quantizeForGraph } from '../quant/nf4.js';
import { type CheckpointMeta, type CheckpointTensor, loadLatestValidCheckpoint, saveCheckpoint } from './checkpoint.js';

/**
 * The training settings a job config and the CLI both give (validated by cli/options.ts TRAIN_OPTIONS);
 * TrainOptions adds the paths and run-time knobs the caller (CLI or worker) chooses.
 */
export interface TrainSettings {
  method: 'lora' | 'qlora';
  optimizer: 'adamw' | 'sgd';
  lr: number;
  weightDecay: number;
  steps?: number;
  epochs?: number;
  batchSize: number;
  gradAccum: number;
  seqLen: number;
  rank: number;
  alpha: number;
  dropout: number;
  targets: string[];
  maxGradNorm: number;
  seed: number;
  scheduler: Scheduler;
  warmupSteps: number;
  evalSteps?: number;
  saveSteps?: number;
  earlyStoppingPatience?: number;
  packing: boolean;
  evalSplit?: number;
  useRslora?: boolean;
}

export interface TrainOptions extends TrainSettings {
  modelDir: string;
  dataPath: string;
  evalDataPath?: string;
  outDir: string;
  initAdapter?: string;
  /** a checkpoint dir (or the dir holding checkpoint-* dirs); a corrupt one falls back to the previous */
  resumeFrom?: string;
  replay?: { dataPath: string; fraction: number };
  /** onnxruntime intra-op threads (default 2) */
  threads?: number;
  /** onnxruntime execution provider of every training/eval/optimizer session (default cpu) */
  executionProvider?: ExecutionProvider;
  /** checkpoints kept under <outDir>/checkpoints (default 2) */
  keepCheckpoints?: number;
}

export interface StepReport {
  step: number;
  totalSteps: number;
  epoch: number;
  totalEpochs: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  etaSec: number;
}

export interface TrainHooks {
  onStep?(r: StepReport): void;
  onEval?(r: { step: number; evalLoss: number }): void;
  onCheckpoint?(r: { step: number; dir: string }): void;
  shouldStop?(): boolean;
  onLog?(msg: string): void;
}

export interface TrainResult {
  adapterDir: string;
  finalLoss: number;
  evalLoss?: number;
  steps: number;
  /** true when shouldStop() ended the run early */
  stopped?: boolean;
  /** bytes of the frozen linear weights as the graph holds them, and as fp32 */
  baseWeightBytes?: { stored: number; fp32: number };
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

interface LoraSetup {
  r: number;
  alpha: number;
  useRslora: boolean;
  targets: string[];
  init?: Map<string, HostTensor>;
}

async function loraSetup(o: TrainOptions): Promise<LoraSetup> {
  if (!o.initAdapter) return { r: o.rank, alpha: o.alpha, useRslora: !!o.useRslora, targets: o.targets };
  const a = await loadAdapter(o.initAdapter);
  return { r: a.spec.r, alpha: a.spec.alpha, useRslora: a.spec.useRslora, targets: a.spec.targetModules, init: a.tensors };
}

/** PEFT initialisation: A ~ kaiming_uniform(a=√5) = U(-1/√in, 1/√in), B = 0; or the init adapter's tensors. */
function initParams(params: LoraParam[], setup: LoraSetup, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed ^ 0x10a4);
  const out = new Map<string, Float32Array>();
  for (const p of params) {
    const n = p.shape[0] * p.shape[1];
    const given = setup.init?.get(p.name);
    if (setup.init) {
      if (!given) throw new Error(`init adapter lacks ${p.name}`);
      if (given.shape.join() !== p.shape.join()) throw new Error(`init adapter ${p.name} has shape [${given.shape}], expected [${p.shape}]`);
      out.set(p.name, Float32Array.from(given.data));
      continue;
    }
    const data = new Float32Array(n);
    if (p.name.includes('lora_A')) {
      const bound = 1 / Math.sqrt(p.shape[1]);
      for (let i = 0; i < n; i++) data[i] = (rng.next() * 2 - 1) * bound;
    }
    out.set(p.name, data);
  }
  return out;
}

interface Prepared {
  config: ModelConfig;
  train: Example[];
  eval: Example[];
  seq: number;
  spec: GraphSpec;
  setup: LoraSetup;
  extraFeeds: Record<string, HostValue>;
  baseWeightBytes?: { stored: number; fp32: number };
  /** Mistral's sliding attention window (Infinity when none applies) */
  window: number;
}

/** HF applies Mistral's `sliding_window` to every layer; Qwen2's optional one only to some layers (not supported). */
async function slidingWindow(modelDir: string, c: ModelConfig, seq: number): Promise<number> {
  const raw = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const w = typeof raw.sliding_window === 'number' ? raw.sliding_window : Infinity;
  if (c.architecture === 'MistralForCausalLM') return w;
  if (c.architecture === 'Qwen2ForCausalLM' && raw.use_sliding_window === true && w < seq) {
    throw new Error(`config.json: Qwen2 use_sliding_window with sliding_window ${w} < seq_len ${seq} is not supported`);
  }
  return Infinity;
}

async function prepare(o: TrainOptions, forEval: boolean): Promise<Prepared> {
  if (!o.initAdapter && (!o.targets || o.targets.length === 0)) throw new Error('targets: at least one LoRA target module is required');
  const { config, weights } = await loadCheckpoint(o.modelDir);
  const tok = (await exists(join(o.modelDir, 'tokenizer.json'))) ? await TextTokenizer.load(o.modelDir) : undefined;
  const data = await prepareData(tok, {
    dataPath: forEval ? (o.evalDataPath ?? o.dataPath) : o.dataPath,
    evalDataPath: forEval ? undefined : o.evalDataPath,
    evalSplit: forEval ? undefined : o.evalSplit,
    seqLen: o.seqLen,
    packing: o.packing,
    seed: o.seed,
    replay: forEval ? undefined : o.replay,
    vocabSize: config.vocabSize,
  });
  const longest = Math.max(...[...data.train, ...data.eval].map((e) => e.inputIds.length));
  const seq = Math.max(2, Math.min(o.seqLen, longest));
  const setup = await loraSetup(o);
  const spec: GraphSpec = {
    config,
    weights,
    batch: o.batchSize,
    seq,
    lora: { r: setup.r, scale: loraScale(setup), targets: setup.targets, dropout: o.dropout },
  };
  let extraFeeds: Record<string, HostValue> = {};
  let baseWeightBytes: Prepared['baseWeightBytes'];
  if (o.method === 'qlora') {
    const q = quantizeForGraph(config, weights);
    spec.baseWeight = q.emit;
    extraFeeds = q.feeds;
    baseWeightBytes = { stored: q.storedBytes, fp32: q.fp32Bytes };
  }
  const window = await slidingWindow(o.modelDir, config, seq);
  return { config, train: data.train, eval: data.eval, seq, spec, setup, extraFeeds, baseWeightBytes, window };
}

/** Writes the graph as <dir>/<name>.onnx (big initializers in <name>.weights) and opens a session on it. */
async function writeAndOpen(dir: string, name: string, g: Graph, session: SessionOptions): Promise<Session> {
  const bytes = [...g.initializers.values()].reduce((a, t) => a + t.data.byteLength, 0);
  const path = join(dir, `${name}.onnx`);
  if (bytes > 1 << 30) {
    const ext: ExternalPlan = { location: `${name}.weights`, minBytes: 1024, chunks: [], offset: 0 };
    await writeFile(path, toOnnx(g, ext));
    const fh = await import('node:fs/promises').then((fs) => fs.open(join(dir, ext.location), 'w'));
    for (const c of ext.chunks) await fh.write(c);
    await fh.close();
  } else await writeFile(path, toOnnx(g));
  const s = await Session.create(path, session);
  g.initializers.clear(); // the session owns the weights now; do not keep a second host copy alive
  return s;
}

function paramFeeds(params: LoraParam[], values: Map<string, Float32Array>): Record<string, HostValue> {
  const f: Record<string, HostValue> = {};
  for (const p of params) f[p.name] = { dtype: 'float32', dims: p.shape, data: values.get(p.name)! };
  return f;
}

async function evalLoss(s: Session, built: BuiltGraph, p: Prepared, params: Map<string, Float32Array>, examples: Example[]): Promise<{ loss: number; tokens: number }> {
  const B = p.spec.batch;
  let sum = 0;
  let count = 0;
  let tokens = 0;
  const pf = paramFeeds(built.params, params);
  for (let i = 0; i < examples.length; i += B) {
    const chunk = examples.slice(i, i + B);
    const n = chunk.reduce((a, e) => a + countTargets(e, p.seq), 0);
    if (n === 0) continue;
    const { feeds } = batchFeeds(p.config, chunk, B, p.seq, n, 'float32', p.window);
    const r = await s.run({ ...feeds, ...pf, ...p.extraFeeds }, [built.loss]);
    sum += (r[built.loss]!.data[0] as number) * n;
    count += n;
    tokens += chunk.reduce((a, e) => a + Math.min(e.inputIds.length, p.seq), 0);
  }
  if (count === 0) throw new Error('eval data has no labelled tokens');
  return { loss: sum / count, tokens };
}

/** Mean eval loss of the init adapter (or freshly initialised LoRA, i.e. the base model) on the eval data. */
export async function evaluate(o: TrainOptions): Promise<{ evalLoss: number; examples: number; tokens: number }> {
  const p = await prepare(o, true);
  const built = buildEvalGraph(p.spec);
  await mkdir(join(o.outDir, 'artifacts'), { recursive: true });
  const s = await writeAndOpen(join(o.outDir, 'artifacts'), 'eval', built.graph, { intraOpNumThreads: o.threads ?? 2, executionProvider: o.executionProvider });
  try {
    const params = initParams(built.params, p.setup, o.seed);
    const r = await evalLoss(s, built, p, params, p.train);
    return { evalLoss: r.loss, examples: p.train.length, tokens: r.tokens };
  } finally {
    await s.release();
  }
}

/**
 * Keep-masks (uint8, 1 = keep) for every LoRA branch of one micro-batch. Counter-based: a mask depends only on
 * (seed, step, micro-batch, module), so a resumed run draws exactly the same ones. xorshift32 gives two 16-bit
 * draws per word; a value drops with probability round(p·65536)/65536.
 */
export function dropoutFeeds(built: Pick<BuiltGraph, 'dropoutInputs'>, rows: number, p: number, seed: number, step: number, micro: number): Record<string, HostValue> {
  const f: Record<string, HostValue> = {};
  const threshold = Math.round(p * 65536);
  built.dropoutInputs.forEach((d, k) => {
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(step + 1, 0xc2b2ae35) ^ Math.imul(micro + 1, 0x27d4eb2f) ^ Math.imul(k + 1, 0x165667b1);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    let s = (h ^ (h >>> 16)) | 1;
    const m = new Uint8Array(rows * d.features);
    for (let i = 0; i < m.length; i += 2) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      m[i] = (s & 0xffff) >= threshold ? 1 : 0;
      if (i + 1 < m.length) m[i + 1] = s >>> 16 >= threshold ? 1 : 0;
    }
    f[d.name] = { dtype: 'uint8', dims: [rows, d.features], data: m };
  });
  return f;
}

export async function train(o: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.onLog ?? (() => {});
  const threads = o.threads ?? 2;
  const p = await prepare(o, false);
  const built = buildTrainingGraph(p.spec);
  const evalBuilt = p.eval.length ? buildEvalGraph(p.spec) : undefined;
  const hyper: OptimizerHyper = { kind: o.optimizer, ...ADAMW_DEFAULTS, weightDecay: o.weightDecay };
  const opt = buildOptimizerGraph(built.params, hyper);
  const art = join(o.outDir, 'artifacts');
  await mkdir(art, { recursive: true });
  const trainS = await writeAndOpen(art, 'training', built.graph, { intraOpNumThreads: threads, executionProvider: o.executionProvider });
  const evalS = evalBuilt ? await writeAndOpen(art, 'eval', evalBuilt.graph, { intraOpNumThreads: threads, executionProvider: o.executionProvider }) : undefined;
  const optS = await writeAndOpen(art, 'optimizer', opt.graph, { intraOpNumThreads: 1, executionProvider: o.executionProvider });
  await writeFile(
    join(art, 'artifacts.json'),
    JSON.stringify(
      {
        training: { file: 'training.onnx', inputs: trainS.inputNames, loss: built.loss, gradients: Object.fromEntries(built.grads) },
        eval: evalBuilt ? { file: 'eval.onnx', loss: evalBuilt.loss } : undefined,
        optimizer: { file: 'optimizer.onnx', ...hyper, params: built.params.map((q) => q.name) },
        batch: p.spec.batch,
        seq: p.seq,
      },
      null,
      1,
    ),
  );
  // The graphs hold the weights now; let the host copies go.
  p.spec.weights = new Map();
  try {
    return await runLoop(o, hooks, p, built, evalBuilt, trainS, evalS, optS, opt, log);
  } finally {
    await trainS.release();
    await evalS?.release();
    await optS.release();
  }
}

async function runLoop(
  o: TrainOptions,
  hooks: TrainHooks,
  p: Prepared,
  built: BuiltGraph,
  evalBuilt: BuiltGraph | undefined,
  trainS: Session,
  evalS: Session | undefined,
  optS: Session,
  opt: ReturnType<typeof buildOptimizerGraph>,
  log: (m: string) => void,
): Promise<TrainResult> {
  const B = p.spec.batch;
  const loader = new DataLoader(p.train, { batchSize: B, seed: o.seed, shuffle: true });
  const microPerEpoch = loader.batchesPerEpoch;
  const totalSteps = o.steps ?? Math.max(1, Math.ceil(((o.epochs ?? 1) * microPerEpoch) / o.gradAccum));
  const totalEpochs = (totalSteps * o.gradAccum) / microPerEpoch;
  const params = initParams(built.params, p.setup, o.seed);
  const adam = o.optimizer === 'adamw';
  const m = new Map<string, Float32Array>(built.params.map((q) => [q.name, new Float32Array(q.shape[0] * q.shape[1])]));
  const v = new Map<string, Float32Array>(built.params.map((q) => [q.name, new Float32Array(q.shape[0] * q.shape[1])]));
  const fingerprint = JSON.stringify({
    model: basename(o.modelDir),
    config: p.config,
    method: o.method,
    r: p.setup.r,
    targets: p.setup.targets,
    optimizer: o.optimizer,
    batch: B,
    gradAccum: o.gradAccum,
    seq: p.seq,
    seed: o.seed,
  });
  let step = 0;
  let best = Infinity;
  let sinceBest = 0;
  let lastLoss = NaN;
  if (o.resumeFrom) {
    const ck = await loadLatestValidCheckpoint(o.resumeFrom, log);
    if (ck.meta.fingerprint !== fingerprint) throw new Error(`cannot resume from ${ck.dir}: it was made with different model/method/shape options`);
    for (const q of built.params) {
      params.set(q.name, ck.tensors.get(`param:${q.name}`)!.data);
      if (adam) {
        m.set(q.name, ck.tensors.get(`m:${q.name}`)!.data);
        v.set(q.name, ck.tensors.get(`v:${q.name}`)!.data);
      }
    }
    loader.restore(ck.meta.loader);
    step = ck.meta.step;
    best = ck.meta.bestEvalLoss ?? Infinity;
    sinceBest = ck.meta.evalsWithoutImprovement ?? 0;
    lastLoss = ck.meta.lastLoss ?? NaN;
    log(`resumed from ${ck.dir} at step ${step}`);
  }
  const ckptParent = join(o.outDir, 'checkpoints');
  const save = async () => {
    const tensors: CheckpointTensor[] = [];
    for (const q of built.params) {
      tensors.push({ name: `param:${q.name}`, shape: q.shape, data: params.get(q.name)! });
      if (adam) tensors.push({ name: `m:${q.name}`, shape: q.shape, data: m.get(q.name)! }, { name: `v:${q.name}`, shape: q.shape, data: v.get(q.name)! });
    }
    const meta: CheckpointMeta = {
      format: 'clara-checkpoint-1',
      step,
      totalSteps,
      loader: loader.state(),
      rng: { seed: o.seed, kind: 'counter' },
      fingerprint,
      bestEvalLoss: Number.isFinite(best) ? best : undefined,
      evalsWithoutImprovement: sinceBest,
      lastLoss: Number.isFinite(lastLoss) ? lastLoss : undefined,
    };
    const dir = await saveCheckpoint(ckptParent, meta, tensors, o.keepCheckpoints ?? 2);
    hooks.onCheckpoint?.({ step, dir });
  };
  let evalResult: number | undefined;
  const runEval = async () => {
    if (!evalS || !evalBuilt) return undefined;
    const r = await evalLoss(evalS, evalBuilt, p, params, p.eval);
    hooks.onEval?.({ step, evalLoss: r.loss });
    evalResult = r.loss;
    return r.loss;
  };
  const started = Date.now();
  const startStep = step;
  let stopped = false;
  let earlyStopped = false;
  while (step < totalSteps) {
    if (hooks.shouldStop?.()) {
      stopped = true;
      break;
    }
    const t0 = Date.now();
    const micro = Array.from({ length: o.gradAccum }, () => loader.next().examples);
    const denom = Math.max(1, micro.reduce((a, ex) => a + ex.reduce((b, e) => b + countTargets(e, p.seq), 0), 0));
    let loss = 0;
    let tokens = 0;
    const grads = new Map<string, Float32Array>();
    const pf = paramFeeds(built.params, params);
    for (let k = 0; k < micro.length; k++) {
      const { feeds } = batchFeeds(p.config, micro[k]!, B, p.seq, denom, 'float32', p.window);
      const drop = o.dropout > 0 ? dropoutFeeds(built, B * p.seq, o.dropout, o.seed, step, k) : {};
      const r = await trainS.run({ ...feeds, ...pf, ...drop, ...p.extraFeeds });
      loss += r[built.loss]!.data[0] as number;
      tokens += micro[k]!.reduce((a, e) => a + Math.min(e.inputIds.length, p.seq), 0);
      for (const q of built.params) {
        const gq = r[built.grads.get(q.name)!]!.data as Float32Array;
        const acc = grads.get(q.name);
        if (!acc) grads.set(q.name, gq);
        else for (let i = 0; i < acc.length; i++) acc[i]! += gq[i]!;
      }
    }
    const lr = o.lr * lrFactor(o.scheduler, step, o.warmupSteps, totalSteps);
    const of: Record<string, HostValue> = optimizerScalars({ kind: o.optimizer, ...ADAMW_DEFAULTS, weightDecay: o.weightDecay }, lr, step, o.maxGradNorm);
    built.params.forEach((q, i) => {
      of[`param.${i}`] = { dtype: 'float32', dims: q.shape, data: params.get(q.name)! };
      of[`grad.${i}`] = { dtype: 'float32', dims: q.shape, data: grads.get(q.name)! };
      if (adam) {
        of[`m.${i}`] = { dtype: 'float32', dims: q.shape, data: m.get(q.name)! };
        of[`v.${i}`] = { dtype: 'float32', dims: q.shape, data: v.get(q.name)! };
      }
    });
    const r = await optS.run(of);
    built.params.forEach((q, i) => {
      params.set(q.name, r[opt.newParam[i]!]!.data as Float32Array);
      if (adam) {
        m.set(q.name, r[opt.newM[i]!]!.data as Float32Array);
        v.set(q.name, r[opt.newV[i]!]!.data as Float32Array);
      }
    });
    step++;
    lastLoss = loss;
    const elapsed = (Date.now() - started) / 1000;
    const dt = Math.max(1e-3, (Date.now() - t0) / 1000);
    hooks.onStep?.({
      step,
      totalSteps,
      epoch: loader.epochProgress,
      totalEpochs,
      loss,
      lr,
      gradNorm: r[opt.gradNorm]!.data[0] as number,
      tokensPerSec: tokens / dt,
      etaSec: ((totalSteps - step) * elapsed) / Math.max(1, step - startStep),
    });
    if (o.evalSteps && step % o.evalSteps === 0 && step < totalSteps) {
      const e = await runEval();
      if (e !== undefined && o.earlyStoppingPatience) {
        if (e < best) {
          best = e;
          sinceBest = 0;
        } else if (++sinceBest >= o.earlyStoppingPatience) {
          log(`early stopping at step ${step}: no eval improvement in ${sinceBest} evals`);
          earlyStopped = true;
          break;
        }
      }
    }
    if (o.saveSteps && step % o.saveSteps === 0 && step < totalSteps) await save();
  }
  if (!stopped || step > startStep) await save();
  const finalEval = stopped || earlyStopped ? evalResult : await runEval();
  const tensors = new Map<string, HostTensor>();
  for (const q of built.params) tensors.set(q.name, { shape: q.shape, data: params.get(q.name)! });
  await saveAdapter(o.outDir, { r: p.setup.r, alpha: p.setup.alpha, dropout: o.dropout, targetModules: p.setup.targets, useRslora: p.setup.useRslora, baseModel: basename(o.modelDir) }, tensors);
  return { adapterDir: o.outDir, finalLoss: lastLoss, evalLoss: finalEval, steps: step, stopped: stopped || undefined, baseWeightBytes: p.baseWeightBytes };
}

export { loraParams };
