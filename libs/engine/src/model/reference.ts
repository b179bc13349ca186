// Independent float64 loop implementation of the HF Llama/Mistral/Qwen2 forward + shifted mean cross-entropy.
// It shares no graph code with the ONNX builder and serves as the oracle in specs.
import type { ModelConfig } from '../io/hf-config.js';
import { loraTensorName } from '../io/peft.js';
import type { HostTensor } from '../io/tensor.js';

type W = Map<string, HostTensor>;

function linear(x: Float64Array[], w: HostTensor, bias?: HostTensor): Float64Array[] {
  const [out, inp] = w.shape as [number, number];
  return x.map((row) => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = bias ? bias.data[o]! : 0;
      for (let i = 0; i < inp; i++) s += w.data[o * inp + i]! * row[i]!;
      y[o] = s;
    }
    return y;
  });
}

function rms(x: Float64Array[], w: HostTensor, eps: number): Float64Array[] {
  return x.map((row) => {
    let ms = 0;
    for (const v of row) ms += v * v;
    ms /= row.length;
    const r = 1 / Math.sqrt(ms + eps);
    return row.map((v, i) => v * r * w.data[i]!);
  });
}

export interface ReferenceLora {
  tensors: Map<string, HostTensor>;
  scale: number;
  targets: string[];
}

/** Sum of token losses and count of counted targets for one example. */
export function referenceExampleLoss(c: ModelConfig, w: W, ids: number[], labels: number[], lora?: ReferenceLora, window = Infinity): { sum: number; count: number } {
  const T = ids.length;
  const H = c.hiddenSize;
  const d = c.headDim;
  const get = (n: string) => {
    const t = w.get(n);
    if (!t) throw new Error(`missing ${n}`);
    return t;
  };
  const proj = (x: Float64Array[], l: number, m: string, group: string) => {
    const base = `model.layers.${l}.${group}.${m}`;
    let y = linear(x, get(`${base}.weight`), w.get(`${base}.bias`));
    if (lora && lora.targets.includes(m)) {
      const a = linear(x, lora.tensors.get(loraTensorName(l, m, 'A'))!);
      const b = linear(a, lora.tensors.get(loraTensorName(l, m, 'B'))!);
      y = y.map((row, t) => row.map((v, i) => v + lora.scale * b[t]![i]!));
    }
    return y;
  };
  const emb = get('model.embed_tokens.weight');
  let h = ids.map((id) => Float64Array.from(emb.data.subarray(id * H, (id + 1) * H)));
  const inv = Array.from({ length: d / 2 }, (_, i) => 1 / Math.pow(c.ropeTheta, (2 * i) / d));
  const rope = (v: Float64Array, off: number, pos: number) => {
    const out = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      const f = pos * inv[i % (d / 2)]!;
      const rot = i < d / 2 ? -v[off + i + d / 2]! : v[off + i - d / 2]!;
      out[i] = v[off + i]! * Math.cos(f) + rot * Math.sin(f);
    }
    return out;
  };
  const nRep = c.numHeads / c.numKvHeads;
  for (let l = 0; l < c.numLayers; l++) {
    const x = rms(h, get(`model.layers.${l}.input_layernorm.weight`), c.rmsNormEps);
    const q = proj(x, l, 'q_proj', 'self_attn');
    const k = proj(x, l, 'k_proj', 'self_attn');
    const v = proj(x, l, 'v_proj', 'self_attn');
    const attn = Array.from({ length: T }, () => new Float64Array(c.numHeads * d));
    for (let hd = 0; hd < c.numHeads; hd++) {
      const kv = Math.floor(hd / nRep);
      const ks = k.map((row, t) => rope(row, kv * d, t));
      for (let i = 0; i < T; i++) {
        const qi = rope(q[i]!, hd * d, i);
        const s = new Float64Array(i + 1);
        let mx = -Infinity;
        for (let j = 0; j <= i; j++) {
          if (i - j >= window) {
            s[j] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let e = 0; e < d; e++) dot += qi[e]! * ks[j]![e]!;
          s[j] = dot / Math.sqrt(d);
          mx = Math.max(mx, s[j]!);
        }
        let z = 0;
        for (let j = 0; j <= i; j++) z += (s[j] = Math.exp(s[j]! - mx));
        for (let j = 0; j <= i; j++) for (let e = 0; e < d; e++) attn[i]![hd * d + e] += (s[j]! / z) * v[j]![kv * d + e]!;
      }
    }
    const o = proj(attn, l, 'o_proj', 'self_attn');
    h = h.map((row, t) => row.map((val, i) => val + o[t]![i]!));
    const x2 = rms(h, get(`model.layers.${l}.post_attention_layernorm.weight`), c.rmsNormEps);
    const gate = proj(x2, l, 'gate_proj', 'mlp');
    const up = proj(x2, l, 'up_proj', 'mlp');
    const act = gate.map((row, t) => row.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[t]![i]!));
    const down = proj(act, l, 'down_proj', 'mlp');
    h = h.map((row, t) => row.map((val, i) => val + down[t]![i]!));
  }
  const hn = rms(h, get('model.norm.weight'), c.rmsNormEps);
  const logits = linear(hn, c.tieWordEmbeddings ? emb : get('lm_head.weight'));
  let sum = 0;
  let count = 0;
  for (let t = 0; t + 1 < T; t++) {
    const y = labels[t + 1]!;
    if (y === -100) continue;
    const row = logits[t]!;
    const mx = Math.max(...row);
    let z = 0;
    for (const v of row) z += Math.exp(v - mx);
    sum += -(row[y]! - mx - Math.log(z));
    count++;
  }
  return { sum, count };
}

/** Mean cross-entropy over all counted targets of the examples (the batch loss). */
export function referenceLoss(c: ModelConfig, w: W, examples: { inputIds: number[]; labels: number[] }[], lora?: ReferenceLora, window = Infinity): number {
  let s = 0;
  let n = 0;
  for (const ex of examples) {
    const r = referenceExampleLoss(c, w, ex.inputIds, ex.labels, lora, window);
    s += r.sum;
    n += r.count;
  }
  return s / n;
}
