/**
 * ModelRunner on onnxruntime-node: pads a batch of rows into the decoder graph's inputs (new tokens, positions,
 * past keys/values, attention bias), runs ONE session call, and appends the returned keys/values to each row's cache.
 *
 * Two sessions share the weights: a plain base-model graph for batches where no row uses an adapter, and the
 * multi-LoRA graph (stacked slots gathered per row) for everything else.
 */
import { toOnnx } from '../graph/onnx.js';
import type { ModelConfig } from '../io/hf-config.js';
import { rotaryTables } from '../model/llama.js';
import { Session, type HostValue } from '../graph/runtime.js';
import { buildDecoderGraph, loraInputName, moduleDims, type DecoderGraph } from './decoder-graph.js';
import { LORA_MODULES, ownCache, SequenceCache, type LoraModule, type ForwardOptions, type ForwardRow, type LoraWeights, type ModelRunner, type Tensor } from './types.js';

export interface OnnxRunnerOptions {
  /** Adapter slots including slot 0 (no adapter). */
  numSlots: number;
  /** Largest LoRA rank a slot holds (smaller ranks are zero-padded, which is exact). */
  maxRank: number;
  intraOpThreads?: number;
}

const MASKED = -1e9;

/** Throws when an adapter's rank or factor shapes do not fit this model's slots. */
export function checkLoraFits(config: ModelConfig, weights: LoraWeights, maxRank: number): void {
  if (weights.rank > maxRank) throw new Error(`rank ${weights.rank} exceeds max rank ${maxRank}`);
  for (const [key, f] of weights.factors) {
    const [layer, m] = key.split('.') as [string, LoraModule];
    if (Number(layer) >= config.numLayers || !(LORA_MODULES as readonly string[]).includes(m)) throw new Error(`adapter has no slot for ${key}`);
    const d = moduleDims(config, m);
    const r = f.a.shape[0]!;
    if (r > maxRank || f.a.shape[1] !== d.in || f.b.shape[0] !== d.out || f.b.shape[1] !== r) {
      throw new Error(`adapter ${key}: A [${f.a.shape}] / B [${f.b.shape}] do not fit [${r}, ${d.in}] / [${d.out}, ${r}]`);
    }
  }
}

export class OnnxRunner implements ModelRunner {
  readonly numSlots: number;
  readonly maxRank: number;
  /** Stacked factors per graph input name: A [S, in, R], B [S, R, out]. */
  private readonly stacks = new Map<string, { data: Float32Array; dims: number[] }>();
  private readonly occupied: boolean[];
  /** Rotary tables for every position [maxPos, hd]; rows are gathered per request position. */
  private readonly rope: { cos: Float32Array; sin: Float32Array; cosQ: Float32Array; sinQ: Float32Array };

  private constructor(
    readonly config: ModelConfig,
    private readonly base: { session: Session; graph: DecoderGraph },
    private readonly multi: { session: Session; graph: DecoderGraph },
    options: OnnxRunnerOptions,
  ) {
    this.numSlots = options.numSlots;
    this.maxRank = options.maxRank;
    this.occupied = Array.from({ length: options.numSlots }, () => false);
    const positions = Array.from({ length: config.maxPositionEmbeddings }, (_, i) => i);
    const r = rotaryTables(config, positions);
    const rq = rotaryTables(config, positions, 1 / Math.sqrt(config.headDim));
    this.rope = { cos: r.cos, sin: r.sin, cosQ: rq.cos, sinQ: rq.sin };
    for (let l = 0; l < config.numLayers; l++) {
      for (const m of LORA_MODULES) {
        const d = moduleDims(config, m);
        const S = options.numSlots;
        const R = options.maxRank;
        this.stacks.set(loraInputName(l, m, 'a'), { data: new Float32Array(S * d.in * R), dims: [S, d.in, R] });
        this.stacks.set(loraInputName(l, m, 'b'), { data: new Float32Array(S * R * d.out), dims: [S, R, d.out] });
      }
    }
  }

  static async create(config: ModelConfig, weights: Map<string, Tensor>, options: OnnxRunnerOptions): Promise<OnnxRunner> {
    if (options.numSlots < 2) throw new Error('numSlots must be at least 2 (slot 0 is the base model)');
    const threads = options.intraOpThreads ?? 1;
    const baseGraph = buildDecoderGraph(config, weights, { lora: false, numSlots: options.numSlots, maxRank: options.maxRank });
    const base = await Session.create(toOnnx(baseGraph.graph), { intraOpNumThreads: threads });
    const multiGraph = buildDecoderGraph(config, weights, { lora: true, numSlots: options.numSlots, maxRank: options.maxRank });
    const multi = await Session.create(toOnnx(multiGraph.graph), { intraOpNumThreads: threads });
    return new OnnxRunner(config, { session: base, graph: baseGraph }, { session: multi, graph: multiGraph }, options);
  }

  newCache(): SequenceCache {
    return new SequenceCache(this.config.numLayers, this.config.numKvHeads, this.config.headDim, 32);
  }

  /** Copies an adapter's factors into slot `slot`: A transposed to [in, r], B transposed and scaled to [r, out]. */
  setSlot(slot: number, weights: LoraWeights | null): void {
    if (slot <= 0 || slot >= this.numSlots) throw new Error(`slot ${slot} out of range 1..${this.numSlots - 1}`);
    if (weights) checkLoraFits(this.config, weights, this.maxRank);
    const R = this.maxRank;
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const m of LORA_MODULES) {
        const d = moduleDims(this.config, m);
        const A = this.stacks.get(loraInputName(l, m, 'a'))!.data.subarray(slot * d.in * R, (slot + 1) * d.in * R);
        const B = this.stacks.get(loraInputName(l, m, 'b'))!.data.subarray(slot * R * d.out, (slot + 1) * R * d.out);
        A.fill(0);
        B.fill(0);
        const f = weights?.factors.get(`${l}.${m}`);
        if (!weights || !f) continue;
        const r = f.a.shape[0]!;
        for (let k = 0; k < r; k++) for (let i = 0; i < d.in; i++) A[i * R + k] = f.a.data[k * d.in + i]!;
        for (let o = 0; o < d.out; o++) for (let k = 0; k < r; k++) B[k * d.out + o] = weights.scale * f.b.data[o * r + k]!;
      }
    }
    this.occupied[slot] = weights !== null;
  }

  async forward(input: ForwardRow[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    const rows = input.map((r) => ({ ...r, cache: ownCache(r.cache) }));
    const c = this.config;
    const Bn = rows.length;
    const T = Math.max(...rows.map((r) => r.tokens.length));
    const P = Math.max(...rows.map((r) => r.cache.length));
    const L = P + T;
    const kvH = c.numKvHeads;
    const hd = c.headDim;
    const G = c.numHeads / kvH;
    for (const r of rows) {
      if (r.tokens.length === 0) throw new Error('a row has no new tokens');
      if (r.cache.length + r.tokens.length > c.maxPositionEmbeddings) throw new Error('sequence exceeds the model context');
      if (r.slot < 0 || r.slot >= this.numSlots || (r.slot > 0 && !this.occupied[r.slot])) throw new Error(`adapter slot ${r.slot} is empty`);
    }
    const ids = new BigInt64Array(Bn * T);
    const cos = new Float32Array(Bn * T * hd);
    const sin = new Float32Array(Bn * T * hd);
    const cosQ = new Float32Array(Bn * T * hd);
    const sinQ = new Float32Array(Bn * T * hd);
    const bias = new Float32Array(Bn * G * T * L).fill(MASKED);
    rows.forEach((r, b) => {
      const p = r.cache.length;
      const t = r.tokens.length;
      for (let i = 0; i < T; i++) {
        // padded positions repeat the row's last real token (their outputs are discarded)
        const at = Math.min(i, t - 1);
        ids[b * T + i] = BigInt(r.tokens[at]!);
        const src = (p + at) * hd;
        const dst = (b * T + i) * hd;
        cos.set(this.rope.cos.subarray(src, src + hd), dst);
        sin.set(this.rope.sin.subarray(src, src + hd), dst);
        cosQ.set(this.rope.cosQ.subarray(src, src + hd), dst);
        sinQ.set(this.rope.sinQ.subarray(src, src + hd), dst);
      }
      for (let j = 0; j < G; j++) {
        for (let q = 0; q < T; q++) {
          const row = ((b * G + j) * T + q) * L;
          const upTo = Math.min(q, t - 1); // padded queries repeat the last real one
          bias.fill(0, row, row + p);
          bias.fill(0, row + P, row + P + upTo + 1);
        }
      }
    });
    const useLora = rows.some((r) => r.slot > 0);
    const { session, graph } = useLora ? this.multi : this.base;
    const feeds: Record<string, HostValue> = {
      input_ids: { dtype: 'int64', dims: [Bn, T], data: ids },
      cos: { dtype: 'float32', dims: [Bn, T, hd], data: cos },
      sin: { dtype: 'float32', dims: [Bn, T, hd], data: sin },
      cos_q: { dtype: 'float32', dims: [Bn, 1, T, hd], data: cosQ },
      sin_q: { dtype: 'float32', dims: [Bn, 1, T, hd], data: sinQ },
      attn_bias: { dtype: 'float32', dims: [Bn, G * T, L], data: bias },
    };
    for (let l = 0; l < c.numLayers; l++) {
      const pk = new Float32Array(Bn * kvH * P * hd);
      const pv = new Float32Array(Bn * kvH * P * hd);
      rows.forEach((r, b) => {
        const cache = r.cache;
        const n = cache.length * hd;
        for (let h = 0; h < kvH; h++) {
          const src = h * cache.capacity * hd;
          const dst = (h * Bn + b) * P * hd; // kv-head-major [kvH, B, P, hd]
          pk.set(cache.keys[l]!.subarray(src, src + n), dst);
          pv.set(cache.values[l]!.subarray(src, src + n), dst);
        }
      });
      feeds[`past_key.${l}`] = { dtype: 'float32', dims: [kvH, Bn, P, hd], data: pk };
      feeds[`past_value.${l}`] = { dtype: 'float32', dims: [kvH, Bn, P, hd], data: pv };
    }
    if (useLora) {
      feeds.adapter_slot = { dtype: 'int64', dims: [Bn], data: BigInt64Array.from(rows, (r) => BigInt(r.slot)) };
      for (const [name, s] of this.stacks) feeds[name] = { dtype: 'float32', dims: s.dims, data: s.data };
    }
    const out = await session.run(feeds);
    const V = c.vocabSize;
    const logits = out[graph.logitsOutput]!.data as Float32Array;
    const result = rows.map((r, b) => {
      const t = r.tokens.length;
      const from = options.allPositions ? 0 : t - 1;
      return logits.slice((b * T + from) * V, (b * T + t) * V);
    });
    for (let l = 0; l < c.numLayers; l++) {
      const k = out[graph.keyOutputs[l]!]!.data as Float32Array;
      const v = out[graph.valueOutputs[l]!]!.data as Float32Array;
      rows.forEach((r, b) => {
        const offsets = Array.from({ length: kvH }, (_, h) => (h * Bn + b) * T * hd); // [kvH, B, T, hd]
        r.cache.append(l, k, v, r.tokens.length, offsets);
      });
    }
    for (const r of rows) r.cache.advance(r.tokens.length);
    return result;
  }

  async dispose(): Promise<void> {
    await this.base.session.release();
    await this.multi.session.release();
  }
}
