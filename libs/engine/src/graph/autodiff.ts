// Reverse-mode differentiation over the IR: one backward rule per operator, each expressed as ONNX ops.
// Only tensors that depend on a `wrt` tensor get gradients, so frozen weights cost no weight-gradient work.
import { type Dim, Graph, isFloat, type Node, normAxis } from './ir.js';
import * as F from './ops.js';

/** Returns the gradient of each input (undefined where not needed). `need[i]` says whether input i needs one. */
export type GradRule = (g: Graph, node: Node, dy: (string | undefined)[], need: boolean[]) => (string | undefined)[];

/** Sums `grad` down to the shape of `target` (undoing numpy broadcasting). */
export function unbroadcast(g: Graph, grad: string, target: string): string {
  const gs = g.shape(grad);
  const ts = g.shape(target);
  const lead = gs.length - ts.length;
  const axes: number[] = [];
  for (let i = 0; i < gs.length; i++) {
    if (i < lead) axes.push(i);
    else if (ts[i - lead] === 1 && gs[i] !== 1) axes.push(i);
  }
  let r = grad;
  if (axes.length) r = F.reduceSum(g, r, axes, true);
  if (lead > 0) r = F.reshapeTo(g, r, F.shapeOf(g, target), ts);
  return r;
}

function zerosLike(g: Graph, x: string): string {
  const info = g.info(x);
  const value = { dtype: info.dtype, dims: [1], data: info.dtype === 'float64' ? new Float64Array(1) : new Float32Array(1) };
  return g.node('ConstantOfShape', [F.shapeOf(g, x)], [{ ...info }], { value: { t: value } })[0]!;
}

const T2 = (g: Graph, x: string): string => {
  const r = g.shape(x).length;
  return F.transpose(g, x, [...Array(r - 2).keys(), r - 1, r - 2]);
};

function reduceGrad(g: Graph, node: Node, dy: string, scale?: number): string {
  const x = node.inputs[0]!;
  const axes = g.constValues.get(node.inputs[1]!);
  if (!axes) throw new Error(`${node.op}: axes must be a constant`);
  const keep = (node.attrs.keepdims as { i: number } | undefined)?.i ?? 1;
  let d = keep ? dy : F.unsqueeze(g, dy, axes);
  if (scale !== undefined) d = F.mul(g, d, g.scalar(scale));
  return F.expand(g, d, F.shapeOf(g, x), g.shape(x));
}

export const gradRules: Record<string, GradRule> = {
  Identity: (_g, _n, [dy]) => [dy],
  Add: (g, n, [dy], need) => [need[0] ? unbroadcast(g, dy!, n.inputs[0]!) : undefined, need[1] ? unbroadcast(g, dy!, n.inputs[1]!) : undefined],
  Sub: (g, n, [dy], need) => [
    need[0] ? unbroadcast(g, dy!, n.inputs[0]!) : undefined,
    need[1] ? unbroadcast(g, F.neg(g, dy!), n.inputs[1]!) : undefined,
  ],
  Mul: (g, n, [dy], need) => {
    const [a, b] = n.inputs as [string, string];
    return [need[0] ? unbroadcast(g, F.mul(g, dy!, b), a) : undefined, need[1] ? unbroadcast(g, F.mul(g, dy!, a), b) : undefined];
  },
  Div: (g, n, [dy], need) => {
    const [a, b] = n.inputs as [string, string];
    const y = n.outputs[0]!;
    return [
      need[0] ? unbroadcast(g, F.div(g, dy!, b), a) : undefined,
      need[1] ? unbroadcast(g, F.neg(g, F.div(g, F.mul(g, dy!, y), b)), b) : undefined,
    ];
  },
  Neg: (g, _n, [dy]) => [F.neg(g, dy!)],
  Sqrt: (g, n, [dy]) => [F.div(g, F.mul(g, dy!, g.scalar(0.5)), n.outputs[0]!)],
  Reciprocal: (g, n, [dy]) => {
    const y = n.outputs[0]!;
    return [F.neg(g, F.mul(g, dy!, F.mul(g, y, y)))];
  },
  Exp: (g, n, [dy]) => [F.mul(g, dy!, n.outputs[0]!)],
  Sigmoid: (g, n, [dy]) => {
    const y = n.outputs[0]!;
    return [F.mul(g, F.mul(g, dy!, y), F.sub(g, g.scalar(1), y))];
  },
  MatMul: (g, n, [dy], need) => {
    const [a, b] = n.inputs as [string, string];
    const ra = g.shape(a).length;
    const rb = g.shape(b).length;
    let da: string | undefined;
    let db: string | undefined;
    if (need[0]) da = unbroadcast(g, F.matmul(g, dy!, T2(g, b)), a);
    if (need[1]) {
      if (rb === 2 && ra > 2) {
        // B shared across the batch: flatten the batch into rows, one GEMM.
        const k = g.shape(a)[ra - 1]!;
        const m = g.shape(dy!)[ra - 1]!;
        const a2 = F.reshape(g, a, [-1, k as number], ['rows', k]);
        const d2 = F.reshape(g, dy!, [-1, m as number], ['rows', m]);
        db = F.gemm(g, a2, d2, { transA: true });
      } else db = unbroadcast(g, F.matmul(g, T2(g, a), dy!), b);
    }
    return [da, db];
  },
  Gemm: (g, n, [dy], need) => {
    const [a, b, c] = n.inputs as [string, string, string | undefined];
    const at = n.attrs;
    if ((at.transA as { i: number } | undefined)?.i) throw new Error('Gemm backward: transA is not supported');
    const transB = !!(at.transB as { i: number } | undefined)?.i;
    const alpha = (at.alpha as { f: number } | undefined)?.f ?? 1;
    const beta = (at.beta as { f: number } | undefined)?.f ?? 1;
    const da = need[0] ? F.gemm(g, dy!, b, { transB: !transB, alpha }) : undefined;
    const db = need[1] ? (transB ? F.gemm(g, dy!, a, { transA: true, alpha }) : F.gemm(g, a, dy!, { transA: true, alpha })) : undefined;
    let dc: string | undefined;
    if (need[2] && c) dc = unbroadcast(g, beta === 1 ? dy! : F.mul(g, dy!, g.scalar(beta)), c);
    return [da, db, dc];
  },
  ReduceSum: (g, n, [dy]) => [reduceGrad(g, n, dy!)],
  ReduceMean: (g, n, [dy]) => {
    const s = g.shape(n.inputs[0]!);
    const axes = g.constValues.get(n.inputs[1]!)!.map((a) => normAxis(a, s.length));
    const count = axes.reduce((p, a) => {
      const d = s[a];
      if (typeof d !== 'number') throw new Error('ReduceMean backward needs static reduced dims');
      return p * d;
    }, 1);
    return [reduceGrad(g, n, dy!, 1 / count)];
  },
  Softmax: (g, n, [dy]) => {
    const y = n.outputs[0]!;
    const axis = (n.attrs.axis as { i: number }).i;
    const s = F.reduceSum(g, F.mul(g, dy!, y), [axis], true);
    return [F.mul(g, F.sub(g, dy!, s), y)];
  },
  LogSoftmax: (g, n, [dy]) => {
    const y = n.outputs[0]!;
    const axis = (n.attrs.axis as { i: number }).i;
    const s = F.reduceSum(g, dy!, [axis], true);
    return [F.sub(g, dy!, F.mul(g, F.exp(g, y), s))];
  },
  Reshape: (g, n, [dy]) => [F.reshapeTo(g, dy!, F.shapeOf(g, n.inputs[0]!), g.shape(n.inputs[0]!))],
  Unsqueeze: (g, n, [dy]) => [F.reshapeTo(g, dy!, F.shapeOf(g, n.inputs[0]!), g.shape(n.inputs[0]!))],
  Expand: (g, n, [dy]) => [unbroadcast(g, dy!, n.inputs[0]!)],
  Transpose: (g, n, [dy]) => {
    const perm = (n.attrs.perm as { ints: number[] }).ints;
    const inv = perm.slice();
    perm.forEach((p, i) => (inv[p] = i));
    return [F.transpose(g, dy!, inv)];
  },
  Concat: (g, n, [dy], need) => {
    const axis = (n.attrs.axis as { i: number }).i;
    let off = 0;
    return n.inputs.map((x, i) => {
      const d = g.shape(x)[axis];
      if (typeof d !== 'number') throw new Error('Concat backward needs static dims on the concat axis');
      const r = need[i] ? F.slice(g, dy!, [off], [off + d], [axis]) : undefined;
      off += d;
      return r;
    });
  },
  Split: (g, n, dys) => {
    const axis = (n.attrs.axis as { i: number }).i;
    return [F.concat(g, dys.map((d, i) => d ?? zerosLike(g, n.outputs[i]!)), axis), undefined];
  },
  Slice: (g, n, [dy]) => {
    const x = n.inputs[0]!;
    const s = g.shape(x);
    const starts = g.constValues.get(n.inputs[1]!);
    const ends = g.constValues.get(n.inputs[2]!);
    const axes = g.constValues.get(n.inputs[3]!);
    if (!starts || !ends || !axes || (n.inputs[4] && n.inputs[4] !== '')) throw new Error('Slice backward needs constant bounds, step 1');
    const pads = new Array<number>(2 * s.length).fill(0);
    axes.forEach((a0, k) => {
      const a = normAxis(a0, s.length);
      const d = s[a] as number;
      const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
      const st = clamp(starts[k]!);
      const en = Math.max(st, clamp(ends[k]!));
      pads[a] = st;
      pads[a + s.length] = d - en;
    });
    return [g.node('Pad', [dy!, g.ints(pads)], [{ ...g.info(x) }])[0]!];
  },
  // d scores = (softmax − onehot(label)) · dloss, as Exp(log_prob)·dloss plus a scatter-add of −dloss at the labels.
  SoftmaxCrossEntropyLoss: (g, n, [dLoss, dLogp]) => {
    const [scores, labels] = n.inputs as [string, string];
    if (n.inputs.length > 2 || n.attrs.ignore_index || (n.attrs.reduction as { s: string }).s !== 'none') throw new Error('SoftmaxCrossEntropyLoss backward supports reduction none without weights / ignore_index');
    if (n.outputs.length < 2) throw new Error('SoftmaxCrossEntropyLoss backward needs the log_prob output');
    const logp = n.outputs[1]!;
    const p = F.exp(g, logp);
    let d: string | undefined;
    if (dLoss) {
      const col = F.unsqueeze(g, dLoss, [1]);
      const idx = F.unsqueeze(g, labels, [1]);
      d = g.node('ScatterElements', [F.mul(g, p, col), idx, F.neg(g, col)], [{ ...g.info(scores) }], { axis: { i: 1 }, reduction: { s: 'add' } })[0]!;
    }
    if (dLogp) {
      const s = F.reduceSum(g, dLogp, [1], true);
      const dl = F.sub(g, dLogp, F.mul(g, p, s));
      d = d ? F.add(g, d, dl) : dl;
    }
    return [d, undefined];
  },
  GatherElements: (g, n, [dy]) => {
    const [x, idx] = n.inputs as [string, string];
    const axis = (n.attrs.axis as { i: number }).i;
    const z = zerosLike(g, x);
    return [g.node('ScatterElements', [z, idx, dy!], [{ ...g.info(x) }], { axis: { i: axis }, reduction: { s: 'add' } })[0]!, undefined];
  },
};

/** Input positions that are never differentiable (indices, shapes, axes). */
const NON_DIFF: Record<string, number[]> = {
  Reshape: [1],
  Unsqueeze: [1],
  Expand: [1],
  ReduceSum: [1],
  ReduceMean: [1],
  Slice: [1, 2, 3, 4],
  Split: [1],
  GatherElements: [1],
  Gather: [1],
  SoftmaxCrossEntropyLoss: [1],
};

/**
 * Appends the backward pass for d(loss)/d(wrt) to the graph. `loss` must be a scalar.
 * Returns a map wrt-name → gradient tensor name (a zero tensor where loss does not depend on it).
 */
export function gradients(g: Graph, loss: string, wrt: string[], seed?: string): Map<string, string> {
  const forward = g.nodes.slice();
  const requires = new Set(wrt);
  for (const n of forward) {
    const nd = NON_DIFF[n.op] ?? [];
    if (n.inputs.some((x, i) => x !== '' && !nd.includes(i) && requires.has(x)) && n.outputs.every((o) => isFloat(g.info(o).dtype)))
      for (const o of n.outputs) requires.add(o);
  }
  const grads = new Map<string, string[]>();
  grads.set(loss, [seed ?? g.constant([1], g.info(loss).dtype, g.shape(loss) as number[])]);
  const total = (x: string): string | undefined => {
    const parts = grads.get(x);
    if (!parts || parts.length === 0) return undefined;
    if (parts.length > 1) grads.set(x, [F.sum(g, parts)]);
    return grads.get(x)![0];
  };
  for (let k = forward.length - 1; k >= 0; k--) {
    const n = forward[k]!;
    if (!n.outputs.some((o) => requires.has(o))) continue;
    const dys = n.outputs.map((o) => total(o));
    if (dys.every((d) => d === undefined)) continue;
    const rule = gradRules[n.op];
    if (!rule) throw new Error(`no backward rule for ${n.op}`);
    const nd = NON_DIFF[n.op] ?? [];
    const need = n.inputs.map((x, i) => x !== '' && !nd.includes(i) && requires.has(x));
    if (!need.some(Boolean)) continue;
    // single-output ops always have their gradient here; multi-output rules handle a missing one themselves
    const dx = rule(g, n, dys, need);
    n.inputs.forEach((x, i) => {
      if (!need[i]) return;
      const d = dx[i];
      if (!d) throw new Error(`${n.op} backward produced no gradient for input ${i}`);
      const list = grads.get(x) ?? [];
      list.push(d);
      grads.set(x, list);
    });
  }
  const out = new Map<string, string>();
  for (const w of wrt) out.set(w, total(w) ?? zerosLike(g, w));
  return out;
}

export type { Dim };
