// QLoRA base weights: 4-bit NormalFloat (NF4, the code book of Dettmers et al. 2023 / bitsandbytes), blocks of 64
// with an fp32 absmax scale per block, two codes per byte (first element in the high nibble).
// Inside the graph the codes are decoded by one Gather on a 256×2 table (byte → its two NF4 values, built from the
// code book), then scaled per block: the same result as unpacking the nibbles and gathering the code book twice.
import type { ModelConfig } from '../io/hf-config.js';
import type { HostTensor } from '../io/tensor.js';
import type { Graph } from '../graph/ir.js';
import * as F from '../graph/ops.js';
import type { HostValue } from '../graph/runtime.js';
import { LINEAR_MODULES, type BaseWeightEmitter } from '../model/llama.js';

export const NF4_CODE_BOOK = Float32Array.of(
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
);
export const NF4_BLOCK = 64;

export interface Nf4Tensor {
  shape: number[];
  /** ceil(n / 64) * 32 bytes */
  packed: Uint8Array;
  /** one scale per block */
  absmax: Float32Array;
}

function nearestCode(x: number): number {
  // code book is sorted: pick the nearest by midpoints
  let best = 0;
  let bd = Infinity;
  for (let i = 0; i < 16; i++) {
    const d = Math.abs(x - NF4_CODE_BOOK[i]!);
    if (d < bd) {
      bd = d;
      best = i;
    }
  }
  return best;
}

export function quantizeNf4(t: HostTensor): Nf4Tensor {
  const n = t.data.length;
  const blocks = Math.ceil(n / NF4_BLOCK);
  const packed = new Uint8Array((blocks * NF4_BLOCK) / 2);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let mx = 0;
    for (let i = b * NF4_BLOCK; i < Math.min(n, (b + 1) * NF4_BLOCK); i++) mx = Math.max(mx, Math.abs(t.data[i]!));
    absmax[b] = mx;
    const inv = mx > 0 ? 1 / mx : 0;
    for (let i = b * NF4_BLOCK; i < (b + 1) * NF4_BLOCK; i += 2) {
      const c0 = nearestCode(i < n ? t.data[i]! * inv : 0);
      const c1 = nearestCode(i + 1 < n ? t.data[i + 1]! * inv : 0);
      packed[i >> 1] = (c0 << 4) | c1;
    }
  }
  return { shape: t.shape, packed, absmax };
}

export function dequantizeNf4(q: Nf4Tensor): Float32Array {
  const n = q.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = q.packed[i >> 1]!;
    const code = i & 1 ? byte & 15 : byte >> 4;
    out[i] = NF4_CODE_BOOK[code]! * q.absmax[Math.floor(i / NF4_BLOCK)]!;
  }
  return out;
}

/** byte → [code(high nibble), code(low nibble)] */
function pairTable(): Float32Array {
  const t = new Float32Array(512);
  for (let b = 0; b < 256; b++) {
    t[2 * b] = NF4_CODE_BOOK[b >> 4]!;
    t[2 * b + 1] = NF4_CODE_BOOK[b & 15]!;
  }
  return t;
}

/** Emits the dequantisation of a graph input pair (`<name>.nf4`, `<name>.absmax`) into W [out, in]. */
export function emitNf4Dequant(g: Graph, name: string, shape: number[]): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const blocks = Math.ceil(n / NF4_BLOCK);
  const packed = g.input(`${name}.nf4`, 'uint8', [(blocks * NF4_BLOCK) / 2]);
  const absmax = g.input(`${name}.absmax`, g.ftype, [blocks, 1]);
  const table = g.values.has('nf4_pairs') ? 'nf4_pairs' : g.initializer('nf4_pairs', g.ftype, [256, 2], g.ftype === 'float64' ? Float64Array.from(pairTable()) : pairTable());
  const vals = F.gather(g, table, F.cast(g, packed, 'int32'), 0); // [n/2, 2]
  const scaled = F.mul(g, F.reshape(g, vals, [blocks, NF4_BLOCK]), absmax);
  let flat = F.reshape(g, scaled, [-1]);
  if (blocks * NF4_BLOCK !== n) flat = F.slice(g, flat, [0], [n], [0]);
  return F.reshape(g, flat, shape);
}

export interface QuantizedBase {
  emit: BaseWeightEmitter;
  feeds: Record<string, HostValue>;
  storedBytes: number;
  fp32Bytes: number;
}

/** Quantises every linear weight of the decoder layers; embeddings, norms, biases and lm_head stay fp32. */
export function quantizeForGraph(c: ModelConfig, weights: Map<string, HostTensor>): QuantizedBase {
  const feeds: Record<string, HostValue> = {};
  let storedBytes = 0;
  let fp32Bytes = 0;
  for (let l = 0; l < c.numLayers; l++)
    for (const m of LINEAR_MODULES) {
      const group = m.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(m) ? 'mlp' : 'self_attn';
      const name = `model.layers.${l}.${group}.${m}.weight`;
      const t = weights.get(name);
      if (!t) throw new Error(`checkpoint is missing ${name}`);
      const q = quantizeNf4(t);
      feeds[`${name}.nf4`] = { dtype: 'uint8', dims: [q.packed.length], data: q.packed };
      feeds[`${name}.absmax`] = { dtype: 'float32', dims: [q.absmax.length, 1], data: q.absmax };
      storedBytes += q.packed.byteLength + q.absmax.byteLength;
      fp32Bytes += t.data.length * 4;
    }
  const emit: BaseWeightEmitter = (g, name, t) => {
    if (g.values.has(`${name}.nf4`)) throw new Error(`${name} emitted twice`);
    return emitNf4Dequant(g, name, t.shape);
  };
  return { emit, feeds, storedBytes, fp32Bytes };
}
