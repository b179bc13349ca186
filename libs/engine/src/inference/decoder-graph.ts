/**
 * The inference graph of a Llama-family decoder with a KV cache, built with the engine's graph IR (graph/ops.ts).
 *
 * One graph serves prefill and decode: it takes the NEW tokens of each row [B, T] with their positions, the padded
 * past keys/values of every layer [B, kvH, P, hd] and an additive attention bias that encodes both causality and
 * each row's own past length, and returns logits [B, T, V] plus the new keys/values [B, kvH, T, hd] (the runner
 * appends them to each row's cache).
 *
 * Multi-LoRA (Punica-style gather-matmul): with `lora`, every target linear also takes stacked adapter factors
 * A [S, in, R] and B [S, R, out] as graph inputs (slot 0 = zeros = base model; B already scaled by alpha/r). Each row
 * gathers its own slot's factors by `adapter_slot` [B] and adds x·A·B — one pass for a batch that mixes adapters.
 * Factors are inputs rather than initializers so loading an adapter is a memory copy, not a graph rebuild.
 *
 * GQA without Expand: q is viewed as [B, kvH, g*T, hd] (heads are grouped kv-head-major), so each kv head serves
 * its g query heads in one MatMul; the attention bias comes in already repeated to [B, 1, g*T, P+T].
 */
import { Graph } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import { LORA_MODULES, type DecoderConfig, type LoraModule, type Tensor } from './types.js';

export interface DecoderGraphOptions {
  /** Add per-row stacked LoRA inputs (false = plain base model graph). */
  lora: boolean;
  numSlots: number;
  maxRank: number;
}

export const ATTN_MODULES = new Set<LoraModule>(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

export function moduleDims(c: DecoderConfig, m: LoraModule): { in: number; out: number } {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  switch (m) {
    case 'q_proj':
      return { in: c.hiddenSize, out: q };
    case 'k_proj':
    case 'v_proj':
      return { in: c.hiddenSize, out: kv };
    case 'o_proj':
      return { in: q, out: c.hiddenSize };
    case 'gate_proj':
    case 'up_proj':
      return { in: c.hiddenSize, out: c.intermediateSize };
    case 'down_proj':
      return { in: c.intermediateSize, out: c.hiddenSize };
  }
}

export const loraInputName = (layer: number, m: LoraModule, which: 'a' | 'b') => `lora_${which}.${layer}.${m}`;

function transposed(t: Tensor): Float32Array {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  return out;
}

export function ropeTables(c: DecoderConfig, positions: number): { cos: Float32Array; sin: Float32Array } {
  const hd = c.headDim;
  const half = hd / 2;
  const cos = new Float32Array(positions * hd);
  const sin = new Float32Array(positions * hd);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const ang = p / Math.pow(c.ropeTheta, (2 * i) / hd);
      cos[p * hd + i] = cos[p * hd + i + half] = Math.cos(ang);
      sin[p * hd + i] = sin[p * hd + i + half] = Math.sin(ang);
    }
  }
  return { cos, sin };
}

export interface DecoderGraph {
  graph: Graph;
  /** Output names: per layer the new keys / values [B, kvH, T, hd], and logits [B, T, V]. */
  keyOutputs: string[];
  valueOutputs: string[];
  logitsOutput: string;
}

export function buildDecoderGraph(c: DecoderConfig, weights: Map<string, Tensor>, o: DecoderGraphOptions): DecoderGraph {
  const g = new Graph(o.lora ? 'clara_decoder_multi_lora' : 'clara_decoder', 'float32');
  const H = c.hiddenSize;
  const hd = c.headDim;
  const kvH = c.numKvHeads;
  const w = (name: string) => {
    const t = weights.get(name);
    if (!t) throw new Error(`missing weight ${name}`);
    return t;
  };
  const init = (name: string, t: Tensor) => g.initializer(name, 'float32', t.shape, t.data);
  const initT = (name: string, t: Tensor) => g.initializer(`${name}.T`, 'float32', [t.shape[1]!, t.shape[0]!], transposed(t));

  const ids = g.input('input_ids', 'int64', ['B', 'T']);
  const pos = g.input('position_ids', 'int64', ['B', 'T']);
  let bias = '';
  const slot = o.lora ? g.input('adapter_slot', 'int64', ['B']) : '';

  const { cos: cosT, sin: sinT } = ropeTables(c, c.maxPositionEmbeddings);
  const cosTab = g.initializer('rope_cos', 'float32', [c.maxPositionEmbeddings, hd], cosT);
  const sinTab = g.initializer('rope_sin', 'float32', [c.maxPositionEmbeddings, hd], sinT);
  const cos = op.unsqueeze(g, op.gather(g, cosTab, pos), [1]); // [B,1,T,hd]
  const sin = op.unsqueeze(g, op.gather(g, sinTab, pos), [1]);

  const rope = (x: string) => {
    const x1 = op.slice(g, x, [0], [hd / 2], [3]);
    const x2 = op.slice(g, x, [hd / 2], [hd], [3]);
    const rotated = op.concat(g, [op.neg(g, x2), x1], 3);
    return op.add(g, op.mul(g, x, cos), op.mul(g, rotated, sin));
  };

  const rmsNorm = (x: string, name: string) => {
    const ms = op.reduceMean(g, op.mul(g, x, x), [-1]);
    const inv = op.reciprocal(g, op.sqrt(g, op.add(g, ms, g.scalar(c.rmsNormEps))));
    return op.mul(g, op.mul(g, x, inv), init(name, w(name)));
  };

  const linear = (x: string, layer: number, m: LoraModule) => {
    const path = `model.layers.${layer}.${ATTN_MODULES.has(m) ? 'self_attn' : 'mlp'}.${m}`;
    let y = op.matmul(g, x, initT(`${path}.weight`, w(`${path}.weight`)));
    const b = weights.get(`${path}.bias`);
    if (b) y = op.add(g, y, init(`${path}.bias`, b));
    if (o.lora) {
      const d = moduleDims(c, m);
      const A = g.input(loraInputName(layer, m, 'a'), 'float32', [o.numSlots, d.in, o.maxRank]);
      const B = g.input(loraInputName(layer, m, 'b'), 'float32', [o.numSlots, o.maxRank, d.out]);
      const rowA = op.gather(g, A, slot); // [B, in, R]
      const rowB = op.gather(g, B, slot); // [B, R, out]
      y = op.add(g, y, op.matmul(g, op.matmul(g, x, rowA), rowB));
    }
    return y;
  };

  const keyOutputs: string[] = [];
  const valueOutputs: string[] = [];
  let x = op.gather(g, init('model.embed_tokens.weight', w('model.embed_tokens.weight')), ids); // [B,T,H]
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    const pastK = g.input(`past_key.${l}`, 'float32', ['B', kvH, 'P', hd]);
    const pastV = g.input(`past_value.${l}`, 'float32', ['B', kvH, 'P', hd]);
    const h = rmsNorm(x, `${p}.input_layernorm.weight`);
    const heads = (y: string, n: number) => op.transpose(g, op.reshape(g, y, [0, 0, n, hd], ['B', 'T', n, hd]), [0, 2, 1, 3]);
    const q = rope(heads(linear(h, l, 'q_proj'), c.numHeads)); // [B,nH,T,hd]
    const k = rope(heads(linear(h, l, 'k_proj'), kvH)); // [B,kvH,T,hd]
    const v = heads(linear(h, l, 'v_proj'), kvH);
    keyOutputs.push(op.identity(g, k));
    valueOutputs.push(op.identity(g, v));
    g.output(keyOutputs[l]!);
    g.output(valueOutputs[l]!);
    const keys = op.concat(g, [pastK, k], 2); // [B,kvH,P+T,hd]
    const values = op.concat(g, [pastV, v], 2);
    // [B, 1, g*T, P+T]: declared here so its symbolic key length matches the concatenated keys
    bias ||= g.input('attn_bias', 'float32', ['B', 1, 'GT', g.shape(keys)[2]!]);
    const qg = op.reshape(g, q, [0, kvH, -1, hd], ['B', kvH, 'GT', hd]);
    const scores = op.mul(g, op.matmul(g, qg, op.transpose(g, keys, [0, 1, 3, 2])), g.scalar(1 / Math.sqrt(hd)));
    const probs = op.softmax(g, op.add(g, scores, bias), -1);
    const ctx = op.reshape(g, op.matmul(g, probs, values), [0, c.numHeads, -1, hd], ['B', c.numHeads, 'T', hd]);
    const merged = op.reshape(g, op.transpose(g, ctx, [0, 2, 1, 3]), [0, 0, c.numHeads * hd], ['B', 'T', c.numHeads * hd]);
    const h1 = op.add(g, x, linear(merged, l, 'o_proj'));
    const n2 = rmsNorm(h1, `${p}.post_attention_layernorm.weight`);
    const gate = linear(n2, l, 'gate_proj');
    const act = op.mul(g, op.mul(g, gate, op.sigmoid(g, gate)), linear(n2, l, 'up_proj'));
    x = op.add(g, h1, linear(act, l, 'down_proj'));
  }
  const normed = rmsNorm(x, 'model.norm.weight');
  const headW = c.tieWordEmbeddings ? w('model.embed_tokens.weight') : w('lm_head.weight');
  const logits = op.matmul(g, normed, g.initializer('lm_head.T', 'float32', [H, c.vocabSize], transposed(headW)));
  g.output(logits);
  return { graph: g, keyOutputs, valueOutputs, logitsOutput: logits };
}

export { LORA_MODULES };
