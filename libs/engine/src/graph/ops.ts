// Builders for the ONNX operators the engine uses (opset 18), each inferring its output shape.
import { broadcastShapes, type Dim, type DType, Graph, normAxis, type TensorInfo } from './ir.js';

const one = (g: Graph, op: string, inputs: string[], out: TensorInfo, attrs = {}): string => g.node(op, inputs, [out], attrs)[0]!;

function binary(op: string) {
  return (g: Graph, a: string, b: string): string => {
    const ia = g.info(a);
    return one(g, op, [a, b], { dtype: ia.dtype, shape: broadcastShapes(ia.shape, g.shape(b)) });
  };
}
export const add = binary('Add');
export const sub = binary('Sub');
export const mul = binary('Mul');
export const div = binary('Div');

function unary(op: string) {
  return (g: Graph, x: string): string => one(g, op, [x], { ...g.info(x) });
}
export const neg = unary('Neg');
export const sqrt = unary('Sqrt');
export const reciprocal = unary('Reciprocal');
export const sigmoid = unary('Sigmoid');
export const exp = unary('Exp');
export const identity = unary('Identity');

export function matmul(g: Graph, a: string, b: string): string {
  const sa = g.shape(a);
  const sb = g.shape(b);
  if (sa.length < 2 || sb.length < 2) throw new Error('MatMul: rank-1 operands are not supported');
  if (sa[sa.length - 1] !== sb[sb.length - 2]) throw new Error(`MatMul: [${sa}] x [${sb}]`);
  const batch = broadcastShapes(sa.slice(0, -2), sb.slice(0, -2));
  return one(g, 'MatMul', [a, b], { dtype: g.info(a).dtype, shape: [...batch, sa[sa.length - 2]!, sb[sb.length - 1]!] });
}

export interface GemmOpts {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  c?: string;
}

export function gemm(g: Graph, a: string, b: string, o: GemmOpts = {}): string {
  const sa = g.shape(a);
  const sb = g.shape(b);
  if (sa.length !== 2 || sb.length !== 2) throw new Error('Gemm needs 2-D operands');
  const [m, ka] = o.transA ? [sa[1]!, sa[0]!] : [sa[0]!, sa[1]!];
  const [kb, n] = o.transB ? [sb[1]!, sb[0]!] : [sb[0]!, sb[1]!];
  if (ka !== kb) throw new Error(`Gemm: [${sa}]${o.transA ? 'ᵀ' : ''} x [${sb}]${o.transB ? 'ᵀ' : ''}`);
  const attrs: Record<string, { i: number } | { f: number }> = {};
  if (o.transA) attrs.transA = { i: 1 };
  if (o.transB) attrs.transB = { i: 1 };
  if (o.alpha !== undefined && o.alpha !== 1) attrs.alpha = { f: o.alpha };
  if (o.beta !== undefined && o.beta !== 1) attrs.beta = { f: o.beta };
  return one(g, 'Gemm', o.c ? [a, b, o.c] : [a, b], { dtype: g.info(a).dtype, shape: [m, n] }, attrs);
}

function reduce(op: string) {
  return (g: Graph, x: string, axes: number[], keepdims = true): string => {
    const s = g.shape(x);
    const ax = axes.map((a) => normAxis(a, s.length));
    const shape = keepdims ? s.map((d, i) => (ax.includes(i) ? 1 : d)) : s.filter((_, i) => !ax.includes(i));
    return one(g, op, [x, g.ints(ax)], { dtype: g.info(x).dtype, shape }, { keepdims: { i: keepdims ? 1 : 0 } });
  };
}
export const reduceSum = reduce('ReduceSum');
export const reduceMean = reduce('ReduceMean');
export const reduceSumSquare = reduce('ReduceSumSquare');
export const reduceMax = reduce('ReduceMax');

export function softmax(g: Graph, x: string, axis = -1): string {
  return one(g, 'Softmax', [x], { ...g.info(x) }, { axis: { i: axis } });
}
export function logSoftmax(g: Graph, x: string, axis = -1): string {
  return one(g, 'LogSoftmax', [x], { ...g.info(x) }, { axis: { i: axis } });
}

/** Reshape to static dims (ONNX semantics: 0 copies the input dim, -1 is inferred). `hint` names symbolic results. */
export function reshape(g: Graph, x: string, dims: number[], hint?: Dim[]): string {
  const s = g.shape(x);
  let out: Dim[];
  if (hint) out = hint;
  else {
    out = dims.map((d, i) => (d === 0 ? s[i]! : d));
    const neg = out.indexOf(-1);
    if (neg >= 0) {
      const total = s.reduce<number | null>((a, d) => (a !== null && typeof d === 'number' ? a * d : null), 1);
      const known = out.reduce<number | null>((a, d, i) => (i === neg ? a : a !== null && typeof d === 'number' ? a * d : null), 1);
      if (total === null || known === null) throw new Error(`Reshape of [${s}] to [${dims}] needs a shape hint`);
      out[neg] = total / known;
    }
  }
  return one(g, 'Reshape', [x, g.ints(dims)], { dtype: g.info(x).dtype, shape: out });
}

/** Reshape to a runtime shape tensor; `outShape` is the static description of the result. */
export function reshapeTo(g: Graph, x: string, shapeTensor: string, outShape: Dim[]): string {
  return one(g, 'Reshape', [x, shapeTensor], { dtype: g.info(x).dtype, shape: outShape });
}

export function shapeOf(g: Graph, x: string): string {
  return one(g, 'Shape', [x], { dtype: 'int64', shape: [g.shape(x).length] });
}

export function transpose(g: Graph, x: string, perm: number[]): string {
  const s = g.shape(x);
  return one(g, 'Transpose', [x], { dtype: g.info(x).dtype, shape: perm.map((p) => s[p]!) }, { perm: { ints: perm } });
}

export function concat(g: Graph, xs: string[], axis: number): string {
  const s0 = g.shape(xs[0]!);
  const ax = normAxis(axis, s0.length);
  let total: Dim = 0;
  for (const x of xs) {
    const d = g.shape(x)[ax]!;
    total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
  }
  const shape = s0.map((d, i) => (i === ax ? total : d));
  return one(g, 'Concat', xs, { dtype: g.info(xs[0]!).dtype, shape }, { axis: { i: ax } });
}

/** Slice with static bounds along the given axes (step 1). */
export function slice(g: Graph, x: string, starts: number[], ends: number[], axes: number[]): string {
  const s = g.shape(x);
  const ax = axes.map((a) => normAxis(a, s.length));
  const shape = s.slice();
  ax.forEach((a, k) => {
    const d = s[a];
    if (typeof d !== 'number') throw new Error('Slice needs static dims on sliced axes');
    const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
    shape[a] = Math.max(0, clamp(ends[k]!) - clamp(starts[k]!));
  });
  return one(g, 'Slice', [x, g.ints(starts), g.ints(ends), g.ints(ax)], { dtype: g.info(x).dtype, shape });
}

/** Split along `axis` into parts of the given static sizes. */
export function split(g: Graph, x: string, sizes: number[], axis: number): string[] {
  const s = g.shape(x);
  const ax = normAxis(axis, s.length);
  const info = g.info(x);
  return g.node('Split', [x, g.ints(sizes)], sizes.map((n) => ({ dtype: info.dtype, shape: s.map((d, i) => (i === ax ? n : d)) })), { axis: { i: ax } });
}

export function gather(g: Graph, data: string, indices: string, axis = 0): string {
  const sd = g.shape(data);
  const ax = normAxis(axis, sd.length);
  const shape = [...sd.slice(0, ax), ...g.shape(indices), ...sd.slice(ax + 1)];
  return one(g, 'Gather', [data, indices], { dtype: g.info(data).dtype, shape }, { axis: { i: ax } });
}

export function gatherElements(g: Graph, data: string, indices: string, axis: number): string {
  return one(g, 'GatherElements', [data, indices], { dtype: g.info(data).dtype, shape: g.shape(indices) }, { axis: { i: axis } });
}

/** ONNX SoftmaxCrossEntropyLoss with reduction 'none': per-row loss [N] and log-probabilities [N, C]. */
export function softmaxCrossEntropy(g: Graph, scores: string, labels: string): [string, string] {
  const [n, c] = g.shape(scores);
  const dtype = g.info(scores).dtype;
  const [loss, logp] = g.node('SoftmaxCrossEntropyLoss', [scores, labels], [{ dtype, shape: [n!] }, { dtype, shape: [n!, c!] }], { reduction: { s: 'none' } });
  return [loss!, logp!];
}

export function expand(g: Graph, x: string, shapeTensor: string, outShape: Dim[]): string {
  return one(g, 'Expand', [x, shapeTensor], { dtype: g.info(x).dtype, shape: outShape });
}

export function cast(g: Graph, x: string, to: DType): string {
  return one(g, 'Cast', [x], { dtype: to, shape: g.shape(x) }, { to: { i: ONNX_DTYPE[to] } });
}

export function unsqueeze(g: Graph, x: string, axes: number[]): string {
  const s = g.shape(x).slice();
  const r = s.length + axes.length;
  for (const a of axes.map((a) => normAxis(a, r)).sort((p, q) => p - q)) s.splice(a, 0, 1);
  return one(g, 'Unsqueeze', [x, g.ints(axes)], { dtype: g.info(x).dtype, shape: s });
}

export function min(g: Graph, xs: string[]): string {
  return one(g, 'Min', xs, { dtype: g.info(xs[0]!).dtype, shape: xs.map((x) => g.shape(x)).reduce(broadcastShapes) });
}

export function sum(g: Graph, xs: string[]): string {
  if (xs.length === 1) return xs[0]!;
  return one(g, 'Sum', xs, { dtype: g.info(xs[0]!).dtype, shape: xs.map((x) => g.shape(x)).reduce(broadcastShapes) });
}

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 };
