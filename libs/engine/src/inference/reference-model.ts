/**
 * Plain-JS Llama/Mistral/Qwen2 decoder with a KV cache and per-row LoRA, written straight from the HF modeling code
 * (float64 accumulation). It is the independent reference the ONNX inference graphs are checked against; it shares
 * no code with them.
 */
import { LORA_MODULES, ownCache, SequenceCache, type DecoderConfig, type ForwardOptions, type ForwardRow, type LoraWeights, type ModelRunner, type Tensor } from './types.js';

export class ReferenceModel implements ModelRunner {
  readonly maxRank = Number.MAX_SAFE_INTEGER;
  private readonly slots: (LoraWeights | null)[];

  constructor(
    readonly config: DecoderConfig,
    private readonly weights: Map<string, Tensor>,
    readonly numSlots = 4,
  ) {
    this.slots = Array.from({ length: numSlots }, () => null);
  }

  newCache(): SequenceCache {
    return new SequenceCache(this.config.numLayers, this.config.numKvHeads, this.config.headDim, 16);
  }

  setSlot(slot: number, weights: LoraWeights | null): void {
    if (slot <= 0 || slot >= this.numSlots) throw new Error(`slot ${slot} out of range`);
    this.slots[slot] = weights;
  }

  async dispose(): Promise<void> {}

  async forward(rows: ForwardRow[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    return rows.map((row) => this.forwardRow(row, options.allPositions ?? false));
  }

  private w(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`missing weight ${name}`);
    return t;
  }

  /** y = x W^T (+ b) (+ scale * (x A^T) B^T) for one position. */
  private linear(x: Float64Array, layer: number, module: string, full: string, lora: LoraWeights | null): Float64Array {
    const W = this.w(`${full}.weight`);
    const [out, inp] = W.shape;
    const y = new Float64Array(out);
    const bias = this.weights.get(`${full}.bias`);
    for (let o = 0; o < out; o++) {
      let s = bias ? bias.data[o] : 0;
      const row = o * inp;
      for (let i = 0; i < inp; i++) s += W.data[row + i] * x[i];
      y[o] = s;
    }
    const f = lora?.factors.get(`${layer}.${module}`);
    if (lora && f) {
      const r = f.a.shape[0];
      const xa = new Float64Array(r);
      for (let k = 0; k < r; k++) {
        let s = 0;
        for (let i = 0; i < inp; i++) s += f.a.data[k * inp + i] * x[i];
        xa[k] = s;
      }
      for (let o = 0; o < out; o++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += f.b.data[o * r + k] * xa[k];
        y[o] += lora.scale * s;
      }
    }
    return y;
  }

  private rmsNorm(x: Float64Array, name: string): Float64Array {
    const g = this.w(name).data;
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + this.config.rmsNormEps);
    return x.map((v, i) => v * inv * g[i]);
  }

  /** HF rotate_half RoPE on one head vector, in place. */
  private rope(v: Float64Array, offset: number, pos: number): void {
    const hd = this.config.headDim;
    const half = hd / 2;
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / Math.pow(this.config.ropeTheta, (2 * i) / hd);
      const ang = pos * invFreq;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      const a = v[offset + i];
      const b = v[offset + i + half];
      v[offset + i] = a * c - b * s;
      v[offset + i + half] = b * c + a * s;
    }
  }

  private forwardRow(row: ForwardRow, allPositions: boolean): Float32Array {
    const c = this.config;
    const lora = row.slot > 0 ? this.slots[row.slot] : null;
    if (row.slot > 0 && !lora) throw new Error(`slot ${row.slot} is empty`);
    const emb = this.w('model.embed_tokens.weight').data;
    const head = c.tieWordEmbeddings ? this.w('model.embed_tokens.weight') : this.w('lm_head.weight');
    const H = c.hiddenSize;
    const hd = c.headDim;
    const group = c.numHeads / c.numKvHeads;
    const cache = ownCache(row.cache);
    const past = cache.length;
    const T = row.tokens.length;
    // hidden states of the new positions
    let xs: Float64Array[] = row.tokens.map((t) => Float64Array.from(emb.subarray(t * H, (t + 1) * H)));
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      const qs: Float64Array[] = [];
      const kNew = new Float32Array(c.numKvHeads * T * hd);
      const vNew = new Float32Array(c.numKvHeads * T * hd);
      for (let t = 0; t < T; t++) {
        const h = this.rmsNorm(xs[t], `${p}.input_layernorm.weight`);
        const q = this.linear(h, l, 'q_proj', `${p}.self_attn.q_proj`, lora);
        const k = this.linear(h, l, 'k_proj', `${p}.self_attn.k_proj`, lora);
        const v = this.linear(h, l, 'v_proj', `${p}.self_attn.v_proj`, lora);
        for (let hh = 0; hh < c.numHeads; hh++) this.rope(q, hh * hd, past + t);
        for (let kh = 0; kh < c.numKvHeads; kh++) {
          this.rope(k, kh * hd, past + t);
          for (let d = 0; d < hd; d++) {
            kNew[(kh * T + t) * hd + d] = k[kh * hd + d];
            vNew[(kh * T + t) * hd + d] = v[kh * hd + d];
          }
        }
        qs.push(q);
      }
      cache.append(l, kNew, vNew, T, Array.from({ length: c.numKvHeads }, (_, kh) => kh * T * hd));
      // cache.length still counts only the past; the new block sits right after it
      const cap = cache.capacity;
      const K = cache.keys[l];
      const V = cache.values[l];
      const next: Float64Array[] = [];
      for (let t = 0; t < T; t++) {
        const attn = new Float64Array(c.numHeads * hd);
        const visible = past + t + 1;
        for (let hh = 0; hh < c.numHeads; hh++) {
          const kh = Math.floor(hh / group);
          const scores = new Float64Array(visible);
          let max = -Infinity;
          for (let j = 0; j < visible; j++) {
            let s = 0;
            const base = (kh * cap + j) * hd;
            for (let d = 0; d < hd; d++) s += qs[t][hh * hd + d] * K[base + d];
            s /= Math.sqrt(hd);
            scores[j] = s;
            if (s > max) max = s;
          }
          let sum = 0;
          for (let j = 0; j < visible; j++) sum += scores[j] = Math.exp(scores[j] - max);
          for (let j = 0; j < visible; j++) {
            const pj = scores[j] / sum;
            const base = (kh * cap + j) * hd;
            for (let d = 0; d < hd; d++) attn[hh * hd + d] += pj * V[base + d];
          }
        }
        const o = this.linear(attn, l, 'o_proj', `${p}.self_attn.o_proj`, lora);
        const h1 = xs[t].map((v, i) => v + o[i]);
        const n2 = this.rmsNorm(h1, `${p}.post_attention_layernorm.weight`);
        const gate = this.linear(n2, l, 'gate_proj', `${p}.mlp.gate_proj`, lora);
        const up = this.linear(n2, l, 'up_proj', `${p}.mlp.up_proj`, lora);
        const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
        const down = this.linear(act, l, 'down_proj', `${p}.mlp.down_proj`, lora);
        next.push(h1.map((v, i) => v + down[i]));
      }
      xs = next;
    }
    cache.advance(T);
    const V_ = c.vocabSize;
    const positions = allPositions ? xs : [xs[T - 1]];
    const out = new Float32Array(positions.length * V_);
    positions.forEach((x, t) => {
      const n = this.rmsNorm(x, 'model.norm.weight');
      for (let v = 0; v < V_; v++) {
        let s = 0;
        for (let i = 0; i < H; i++) s += head.data[v * H + i] * n[i];
        out[t * V_ + v] = s;
      }
    });
    return out;
  }
}

/** Adds scale * B A into the base weights (what merge_and_unload does); used to check adapter application. */
export function mergeLora(weights: Map<string, Tensor>, lora: LoraWeights, numLayers: number): Map<string, Tensor> {
  const merged = new Map(weights);
  for (let l = 0; l < numLayers; l++) {
    for (const m of LORA_MODULES) {
      const f = lora.factors.get(`${l}.${m}`);
      if (!f) continue;
      const name = `model.layers.${l}.${m.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(m) ? 'mlp' : 'self_attn'}.${m}.weight`;
      const W = weights.get(name)!;
      const [out, inp] = W.shape;
      const r = f.a.shape[0];
      const data = Float32Array.from(W.data);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inp; i++) {
          let s = 0;
          for (let k = 0; k < r; k++) s += f.b.data[o * r + k] * f.a.data[k * inp + i];
          data[o * inp + i] += lora.scale * s;
        }
      }
      merged.set(name, { shape: W.shape, data });
    }
  }
  return merged;
}
