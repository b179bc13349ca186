// Training (forward + backward) and evaluation graphs for a fixed batch shape, plus the host-side batch feeds.
import type { ModelConfig } from '../io/hf-config.js';
import type { HostTensor } from '../io/tensor.js';
import { gradients } from '../graph/autodiff.js';
import { Graph } from '../graph/ir.js';
import type { HostValue } from '../graph/runtime.js';
import { attentionBias, type BaseWeightEmitter, crossEntropy, DecoderBuilder, type LoraGraphSpec, type LoraParam, rotaryTables } from './llama.js';

/** A tokenized example (same shape as data/'s Example): labels aligned with inputIds, -100 = ignored. */
export interface Example {
  inputIds: number[];
  labels: number[];
}

export interface GraphSpec {
  config: ModelConfig;
  weights: Map<string, HostTensor>;
  batch: number;
  seq: number;
  lora?: LoraGraphSpec;
  dtype?: 'float32' | 'float64';
  baseWeight?: BaseWeightEmitter;
}

export interface BuiltGraph {
  graph: Graph;
  loss: string;
  /** LoRA parameter inputs, in a fixed order. */
  params: LoraParam[];
  /** Output name of each parameter's gradient (training graphs only). */
  grads: Map<string, string>;
  dropoutInputs: { name: string; features: number }[];
}

/** Declares the standard inputs and emits decoder + lm_head + loss. */
function buildLoss(spec: GraphSpec, name: string, withDropout: boolean): BuiltGraph & { builder: DecoderBuilder } {
  return emitLoss(new Graph(name, spec.dtype ?? 'float32'), spec, withDropout);
}

/** Emits the loss graph into `g` (whose float type must match spec.dtype). */
export function emitLoss(g: Graph, spec: GraphSpec, withDropout: boolean): BuiltGraph & { builder: DecoderBuilder } {
  const dtype = g.ftype;
  const c = spec.config;
  const { batch: B, seq: T } = spec;
  const N = B * T;
  const nRep = c.numHeads / c.numKvHeads;
  const lora = spec.lora ? { ...spec.lora, dropout: withDropout ? spec.lora.dropout : 0 } : undefined;
  const b = new DecoderBuilder(g, { config: c, weights: spec.weights, lora, baseWeight: spec.baseWeight });
  const inputIds = g.input('input_ids', 'int64', [B, T]);
  const io = {
    inputIds,
    cos: g.input('cos', dtype, [T, c.headDim]),
    sin: g.input('sin', dtype, [T, c.headDim]),
    cosQ: g.input('cos_q', dtype, [T, c.headDim]),
    sinQ: g.input('sin_q', dtype, [T, c.headDim]),
    attnBias: g.input('attn_bias', dtype, [B, nRep * T, T]),
    batch: B,
    seq: T,
  };
  const targets = g.input('targets', 'int64', [N]);
  const weights = g.input('loss_weights', dtype, [N]);
  const hidden = b.decoder(io);
  const loss = crossEntropy(g, b.lmHead(hidden), targets, weights);
  g.output(loss);
  return { graph: g, loss, params: b.loraInputs, grads: new Map(), dropoutInputs: b.dropoutInputs, builder: b };
}

/** Forward + backward: outputs `loss` and one gradient per LoRA parameter (frozen weights get none). */
export function buildTrainingGraph(spec: GraphSpec): BuiltGraph {
  if (!spec.lora) throw new Error('a training graph needs LoRA parameters');
  const built = buildLoss(spec, 'clara_train', true);
  const g = built.graph;
  const grads = gradients(g, built.loss, built.params.map((p) => p.name));
  for (const p of built.params) {
    const out = g.node('Identity', [grads.get(p.name)!], [{ ...g.info(p.name) }], {}, 'grad')[0]!;
    g.output(out);
    built.grads.set(p.name, out);
  }
  return built;
}

/** Forward only (no dropout): outputs `loss`. */
export function buildEvalGraph(spec: GraphSpec): BuiltGraph {
  return buildLoss(spec, 'clara_eval', false);
}

export interface BatchFeeds {
  feeds: Record<string, HostValue>;
  /** Number of counted (non-ignored, shifted) label positions in this batch. */
  count: number;
}

/** Counted next-token targets of an example: labels shifted left by one, -100 ignored. */
export function countTargets(ex: Example, seq: number): number {
  let n = 0;
  const len = Math.min(ex.inputIds.length, seq);
  for (let t = 0; t + 1 < len; t++) if (ex.labels[t + 1] !== -100) n++;
  return n;
}

/**
 * Host tensors for one micro-batch, right-padded to `seq`. `denominator` is the number of counted targets the
 * loss is averaged over (the whole accumulated batch when accumulating gradients).
 */
export function batchFeeds(
  c: ModelConfig,
  examples: Example[],
  batch: number,
  seq: number,
  denominator: number,
  dtype: 'float32' | 'float64' = 'float32',
  slidingWindow = Infinity,
): BatchFeeds {
  const N = batch * seq;
  const ids = new BigInt64Array(N);
  const mask = new Uint8Array(N);
  const targets = new BigInt64Array(N);
  const weights = dtype === 'float64' ? new Float64Array(N) : new Float32Array(N);
  let count = 0;
  examples.forEach((ex, b) => {
    const len = Math.min(ex.inputIds.length, seq);
    for (let t = 0; t < len; t++) {
      ids[b * seq + t] = BigInt(ex.inputIds[t]!);
      mask[b * seq + t] = 1;
      const next = t + 1 < len ? ex.labels[t + 1]! : -100;
      if (next !== -100) {
        targets[b * seq + t] = BigInt(next);
        weights[b * seq + t] = 1 / denominator;
        count++;
      }
    }
  });
  const nRep = c.numHeads / c.numKvHeads;
  const pos = Array.from({ length: seq }, (_, i) => i);
  const r = rotaryTables(c, pos);
  const rq = rotaryTables(c, pos, 1 / Math.sqrt(c.headDim));
  const fl = (a: Float32Array) => (dtype === 'float64' ? Float64Array.from(a) : a);
  const d = c.headDim;
  return {
    count,
    feeds: {
      input_ids: { dtype: 'int64', dims: [batch, seq], data: ids },
      cos: { dtype, dims: [seq, d], data: fl(r.cos) },
      sin: { dtype, dims: [seq, d], data: fl(r.sin) },
      cos_q: { dtype, dims: [seq, d], data: fl(rq.cos) },
      sin_q: { dtype, dims: [seq, d], data: fl(rq.sin) },
      attn_bias: { dtype, dims: [batch, nRep * seq, seq], data: attentionBias(mask, batch, seq, nRep, dtype, slidingWindow) },
      targets: { dtype: 'int64', dims: [N], data: targets },
      loss_weights: { dtype, dims: [N], data: weights },
    },
  };
}

