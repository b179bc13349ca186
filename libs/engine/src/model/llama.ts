// Llama-family decoder (Llama, Mistral, Qwen2) emitted into a Graph, following the Hugging Face modeling code:
// embedding → N × [RMSNorm → GQA attention with rotary → residual → RMSNorm → SwiGLU → residual] → RMSNorm → lm_head.
// Activations are kept 2-D ([tokens, features]) so every linear is one Gemm against the untransposed HF weight.
import type { ModelConfig } from '../io/hf-config.js';
import { loraTensorName } from '../io/peft.js';
import type { HostTensor } from '../io/tensor.js';
import { type Dim, Graph } from '../graph/ir.js';
import * as F from '../graph/ops.js';

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

export interface LoraGraphSpec {
  r: number;
  /** alpha / r, or alpha / sqrt(r) for rsLoRA. */
  scale: number;
  targets: string[];
  /**
   * LoRA dropout probability p (0 = off). When on, each LoRA branch gets a `dropout.<module>` uint8 input
   * [tokens, in] (1 = keep); the 1/(1-p) rescale is folded into the B GEMM's alpha.
   */
  dropout: number;
}

/** How a frozen base weight [out, in] enters the graph. Default: an initializer in the graph's float type. */
export type BaseWeightEmitter = (g: Graph, name: string, t: HostTensor) => string;

export interface DecoderInputs {
  /** int64 [batch, seq] */
  inputIds: string;
  /** rotary tables [seq, headDim] for the positions of inputIds; `cosQ`/`sinQ` are the same pre-multiplied by 1/sqrt(headDim). */
  cos: string;
  sin: string;
  cosQ: string;
  sinQ: string;
  /** additive attention bias [batch, nRep*seq, kvLen]: 0 where a query may attend, a large negative elsewhere. */
  attnBias: string;
  batch: Dim;
  seq: Dim;
}

export interface KvHook {
  /** Receives k, v [kvHeads, batch, seq, headDim] after rotary; returns the (possibly longer) k, v to attend over. */
  (layer: number, k: string, v: string): { k: string; v: string; kvLen: Dim };
}

export interface DecoderOptions {
  config: ModelConfig;
  weights: Map<string, HostTensor>;
  lora?: LoraGraphSpec;
  baseWeight?: BaseWeightEmitter;
  kv?: KvHook;
}

export interface LoraParam {
  name: string;
  shape: [number, number];
  layer: number;
  module: string;
}

/** Names and shapes of the LoRA tensors for a config (HF module paths, as in io/peft). */
export function loraParams(c: ModelConfig, r: number, targets: string[]): LoraParam[] {
  const dims = linearDims(c);
  const out: LoraParam[] = [];
  for (let l = 0; l < c.numLayers; l++)
    for (const m of LINEAR_MODULES) {
      if (!targets.includes(m)) continue;
      const [o, i] = dims[m];
      out.push({ name: loraTensorName(l, m, 'A'), shape: [r, i], layer: l, module: m });
      out.push({ name: loraTensorName(l, m, 'B'), shape: [o, r], layer: l, module: m });
    }
  return out;
}

export function linearDims(c: ModelConfig): Record<LinearModule, [number, number]> {
  const h = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const m = c.intermediateSize;
  return { q_proj: [q, h], k_proj: [kv, h], v_proj: [kv, h], o_proj: [h, q], gate_proj: [m, h], up_proj: [m, h], down_proj: [h, m] };
}

function toFloat(g: Graph, t: HostTensor): Float32Array | Float64Array {
  return g.ftype === 'float64' ? Float64Array.from(t.data) : t.data;
}

export class DecoderBuilder {
  private readonly weightNames = new Map<string, string>();
  /** LoRA inputs created while building, in creation order. */
  readonly loraInputs: LoraParam[] = [];
  /** Dropout-mask inputs created while building: [name, tokens, in]. */
  readonly dropoutInputs: { name: string; features: number }[] = [];

  constructor(
    readonly g: Graph,
    readonly o: DecoderOptions,
  ) {}

  /** Frozen tensor by HF name, emitted once. */
  weight(name: string): string {
    const have = this.weightNames.get(name);
    if (have) return have;
    const t = this.o.weights.get(name);
    if (!t) throw new Error(`checkpoint is missing ${name}`);
    const n = this.g.initializer(name, this.g.ftype, t.shape, toFloat(this.g, t));
    this.weightNames.set(name, n);
    return n;
  }

  private baseWeight(name: string): string {
    const have = this.weightNames.get(name);
    if (have) return have;
    if (!this.o.baseWeight) return this.weight(name);
    const t = this.o.weights.get(name);
    if (!t) throw new Error(`checkpoint is missing ${name}`);
    const n = this.o.baseWeight(this.g, name, t);
    this.weightNames.set(name, n);
    return n;
  }

  rmsNorm(x: string, weightName: string): string {
    const g = this.g;
    const ms = F.reduceMean(g, F.mul(g, x, x), [-1], true);
    const inv = F.reciprocal(g, F.sqrt(g, F.add(g, ms, g.scalar(this.o.config.rmsNormEps))));
    return F.mul(g, F.mul(g, x, inv), this.weight(weightName));
  }

  /** y = x Wᵀ (+ b) (+ scale · dropout(x) Aᵀ Bᵀ) for a module of a layer. */
  linear(x: string, layer: number, module: LinearModule): string {
    const g = this.g;
    const prefix = ['gate_proj', 'up_proj', 'down_proj'].includes(module) ? 'mlp' : 'self_attn';
    const base = `model.layers.${layer}.${prefix}.${module}`;
    const w = this.baseWeight(`${base}.weight`);
    // Qwen2 biases q/k/v; Llama with attention_bias also o_proj: use whatever bias the checkpoint has.
    const hasBias = this.o.weights.has(`${base}.bias`);
    const y = F.gemm(g, x, w, { transB: true, c: hasBias ? this.weight(`${base}.bias`) : undefined });
    if (!this.o.lora || !this.o.lora.targets.includes(module)) return y;
    return this.loraBranch(x, layer, module, y);
  }

  /**
   * Several linears reading the same x (q/k/v, gate/up) as ONE Gemm against the row-stacked weights (and one LoRA-A
   * Gemm against the stacked A's when there is no dropout), split afterwards: identical maths, fewer and larger GEMMs.
   */
  linearGroup(x: string, layer: number, modules: LinearModule[]): string[] {
    const g = this.g;
    const dims = linearDims(this.o.config);
    const group = (m: string) => (['gate_proj', 'up_proj', 'down_proj'].includes(m) ? 'mlp' : 'self_attn');
    const bases = modules.map((m) => `model.layers.${layer}.${group(m)}.${m}`);
    const outs = modules.map((m) => dims[m][0]);
    const inF = dims[modules[0]!][1];
    let w: string;
    if (this.o.baseWeight) w = F.concat(g, bases.map((b) => this.baseWeight(`${b}.weight`)), 0);
    else {
      const data = g.ftype === 'float64' ? new Float64Array(outs.reduce((a, b) => a + b) * inF) : new Float32Array(outs.reduce((a, b) => a + b) * inF);
      let off = 0;
      for (const b of bases) {
        const t = this.o.weights.get(`${b}.weight`);
        if (!t) throw new Error(`checkpoint is missing ${b}.weight`);
        data.set(t.data, off);
        off += t.data.length;
      }
      w = g.initializer(`model.layers.${layer}.${group(modules[0]!)}.${modules.join('+')}.weight`, g.ftype, [off / inF, inF], data);
    }
    let bias: string | undefined;
    if (bases.some((b) => this.o.weights.has(`${b}.bias`))) {
      const data = g.ftype === 'float64' ? new Float64Array(outs.reduce((a, b) => a + b)) : new Float32Array(outs.reduce((a, b) => a + b));
      let off = 0;
      bases.forEach((b, i) => {
        const t = this.o.weights.get(`${b}.bias`);
        if (t) data.set(t.data, off);
        off += outs[i]!;
      });
      bias = g.initializer(`model.layers.${layer}.${group(modules[0]!)}.${modules.join('+')}.bias`, g.ftype, [off], data);
    }
    const ys = F.split(g, F.gemm(g, x, w, { transB: true, c: bias }), outs, 1);
    const lora = this.o.lora;
    const targeted = modules.filter((m) => lora?.targets.includes(m));
    if (!lora || targeted.length === 0) return ys;
    if (lora.dropout > 0 || targeted.length === 1) {
      // PEFT draws an independent dropout mask per module, so each A sees its own input
      return modules.map((m, i) => (targeted.includes(m) ? this.loraBranch(x, layer, m, ys[i]!) : ys[i]!));
    }
    const as = targeted.map((m) => this.loraInput(layer, m, 'A'));
    const t = F.gemm(g, x, F.concat(g, as, 0), { transB: true });
    const ts = F.split(g, t, targeted.map(() => lora.r), 1);
    return modules.map((m, i) => {
      const k = targeted.indexOf(m);
      if (k < 0) return ys[i]!;
      return F.gemm(g, ts[k]!, this.loraInput(layer, m, 'B'), { transB: true, alpha: lora.scale, c: ys[i]! });
    });
  }

  private loraInput(layer: number, module: LinearModule, which: 'A' | 'B'): string {
    const [outF, inF] = linearDims(this.o.config)[module];
    const r = this.o.lora!.r;
    const name = loraTensorName(layer, module, which);
    const shape: [number, number] = which === 'A' ? [r, inF] : [outF, r];
    this.loraInputs.push({ name, shape, layer, module });
    return this.g.input(name, this.g.ftype, shape);
  }

  /** y + scale · dropout(x) Aᵀ Bᵀ for one module. */
  private loraBranch(x: string, layer: number, module: LinearModule, y: string): string {
    const g = this.g;
    const lora = this.o.lora!;
    const inF = linearDims(this.o.config)[module][1];
    const a = this.loraInput(layer, module, 'A');
    const b = this.loraInput(layer, module, 'B');
    let xd = x;
    let alpha = lora.scale;
    if (lora.dropout > 0) {
      const group = ['gate_proj', 'up_proj', 'down_proj'].includes(module) ? 'mlp' : 'self_attn';
      const mName = `dropout.model.layers.${layer}.${group}.${module}`;
      const mask = g.input(mName, 'uint8', [g.shape(x)[0]!, inF]);
      this.dropoutInputs.push({ name: mName, features: inF });
      xd = F.mul(g, x, F.cast(g, mask, g.ftype));
      alpha = lora.scale / (1 - lora.dropout);
    }
    return F.gemm(g, F.gemm(g, xd, a, { transB: true }), b, { transB: true, alpha, c: y });
  }

  /** Applies rotary embedding to x [..., seq, headDim] with tables [seq, headDim]: x·cos + rotate_half(x)·sin. */
  rope(x: string, cos: string, sin: string): string {
    const g = this.g;
    // rotate_half(x) = cat(-x2, x1) as x·R with a signed permutation matrix: exact (one ±1 term per output), and one
    // small GEMM each way instead of slices, negation and concatenation.
    const rot = F.matmul(g, x, this.rotateHalfMatrix());
    return F.add(g, F.mul(g, x, cos), F.mul(g, rot, sin));
  }

  private rotation?: string;
  private rotateHalfMatrix(): string {
    if (this.rotation) return this.rotation;
    const d = this.o.config.headDim;
    const r = this.g.ftype === 'float64' ? new Float64Array(d * d) : new Float32Array(d * d);
    for (let i = 0; i < d / 2; i++) {
      r[(i + d / 2) * d + i] = -1; // out[i] = -x[i + d/2]
      r[i * d + i + d / 2] = 1; // out[i + d/2] = x[i]
    }
    this.rotation = this.g.initializer(this.g.fresh('rotate_half'), this.g.ftype, [d, d], r);
    return this.rotation;
  }

  /** Emits the decoder and returns the final-normed hidden states [batch*seq, hidden]. */
  decoder(io: DecoderInputs): string {
    const g = this.g;
    const c = this.o.config;
    const H = c.hiddenSize;
    const d = c.headDim;
    const kvH = c.numKvHeads;
    const nRep = c.numHeads / c.numKvHeads;
    const { batch: B, seq: T } = io;
    const times = (a: Dim, b: Dim): Dim => (typeof a === 'number' && typeof b === 'number' ? a * b : `${a}*${b}`);
    const N = times(B, T);
    const bt = F.shapeOf(g, io.inputIds); // [B, T] at run time, so the same code serves dynamic shapes
    const shapeWith = (tail: number[]) => F.concat(g, [bt, g.ints(tail)], 0);

    const emb = F.gather(g, this.weight('model.embed_tokens.weight'), io.inputIds, 0);
    let h = F.reshape(g, emb, [-1, H], [N, H]);
    for (let l = 0; l < c.numLayers; l++) {
      const x = this.rmsNorm(h, `model.layers.${l}.input_layernorm.weight`);
      const [q, k, v] = this.linearGroup(x, l, ['q_proj', 'k_proj', 'v_proj']) as [string, string, string];
      // Layout [kvHeads, batch, ...]: q heads grouped under their kv head (HF repeat_kv order: head = kv * nRep + r),
      // so k/v are never copied, and the [batch, nRep*T, kvLen] bias broadcasts over the leading dim only.
      let q5 = F.reshapeTo(g, q, shapeWith([kvH, nRep, d]), [B, T, kvH, nRep, d]);
      q5 = F.transpose(g, q5, [2, 0, 3, 1, 4]);
      q5 = this.rope(q5, io.cosQ, io.sinQ);
      const qg = F.reshape(g, q5, [0, 0, -1, d], [kvH, B, times(nRep, T), d]);
      let k4 = F.transpose(g, F.reshapeTo(g, k, shapeWith([kvH, d]), [B, T, kvH, d]), [2, 0, 1, 3]);
      k4 = this.rope(k4, io.cos, io.sin);
      let v4 = F.transpose(g, F.reshapeTo(g, v, shapeWith([kvH, d]), [B, T, kvH, d]), [2, 0, 1, 3]);
      let kvLen: Dim = T;
      if (this.o.kv) ({ k: k4, v: v4, kvLen } = this.o.kv(l, k4, v4));
      const scores = F.add(g, F.matmul(g, qg, F.transpose(g, k4, [0, 1, 3, 2])), io.attnBias);
      const p = F.softmax(g, scores, -1);
      const ctx = F.matmul(g, p, v4); // [kvH, B, nRep*T, d]
      const ctx5 = F.reshape(g, ctx, [0, 0, nRep, -1, d], [kvH, B, nRep, T, d]);
      const merged = F.reshape(g, F.transpose(g, ctx5, [1, 3, 0, 2, 4]), [-1, c.numHeads * d], [N, c.numHeads * d]);
      void kvLen;
      h = F.add(g, h, this.linear(merged, l, 'o_proj'));
      const x2 = this.rmsNorm(h, `model.layers.${l}.post_attention_layernorm.weight`);
      const [gate, up] = this.linearGroup(x2, l, ['gate_proj', 'up_proj']) as [string, string];
      const act = F.mul(g, F.mul(g, gate, F.sigmoid(g, gate)), up);
      h = F.add(g, h, this.linear(act, l, 'down_proj'));
    }
    return this.rmsNorm(h, 'model.norm.weight');
  }

  /** logits [tokens, vocab]; lm_head is embed_tokens when embeddings are tied. */
  lmHead(hidden: string): string {
    const name = this.o.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    return F.gemm(this.g, hidden, this.weight(name), { transB: true });
  }
}

/**
 * Mean cross-entropy as a weighted sum: `targets` int64 [tokens] holds the next token (0 where ignored) and
 * `weights` [tokens] holds 1/count for counted positions and 0 elsewhere, so ignored labels drop out exactly.
 */
export function crossEntropy(g: Graph, logits: string, targets: string, weights: string): string {
  const [rowLoss] = F.softmaxCrossEntropy(g, logits, targets);
  return F.reduceSum(g, F.mul(g, rowLoss, weights), [0], false);
}

/** HF rotary tables in float32 arithmetic: inv_freq = 1/theta^(2i/d), emb = cat(freqs, freqs). Returns [len, d]. */
export function rotaryTables(c: ModelConfig, positions: ArrayLike<number>, scale = 1): { cos: Float32Array; sin: Float32Array } {
  const d = c.headDim;
  const half = d / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(Math.pow(c.ropeTheta, Math.fround((2 * i) / d)));
  const cos = new Float32Array(positions.length * d);
  const sin = new Float32Array(positions.length * d);
  for (let p = 0; p < positions.length; p++)
    for (let i = 0; i < half; i++) {
      const f = Math.fround(positions[p]! * inv[i]!);
      const cv = Math.fround(Math.cos(f)) * scale;
      const sv = Math.fround(Math.sin(f)) * scale;
      cos[p * d + i] = cos[p * d + half + i] = cv;
      sin[p * d + i] = sin[p * d + half + i] = sv;
    }
  return { cos, sin };
}

export const MASKED = -1e30;

/**
 * Additive attention bias [batch, nRep*seq, seq] for right- or left-padded rows: query i attends key j iff
 * j <= i and key j is a real token (attention mask 1), as HF's causal mask combined with the padding mask; with a
 * sliding window (Mistral) also i - j < window.
 */
export function attentionBias(
  attentionMask: ArrayLike<number>,
  batch: number,
  seq: number,
  nRep: number,
  dtype: 'float32' | 'float64' = 'float32',
  window = Infinity,
): Float32Array | Float64Array {
  const out = dtype === 'float64' ? new Float64Array(batch * nRep * seq * seq) : new Float32Array(batch * nRep * seq * seq);
  for (let b = 0; b < batch; b++)
    for (let r = 0; r < nRep; r++)
      for (let i = 0; i < seq; i++) {
        const row = ((b * nRep + r) * seq + i) * seq;
        for (let j = 0; j < seq; j++) out[row + j] = j <= i && i - j < window && attentionMask[b * seq + j] ? 0 : MASKED;
      }
  return out;
}
