import { describe, expect, it } from 'vitest';
import { gradCheck, randomArray } from './gradcheck.js';
import type { Graph } from './ir.js';
import * as F from './ops.js';
import { f64, i64, type HostValue } from './runtime.js';

type Spec = { shape: number[]; lo?: number; hi?: number };

/** Declares float64 inputs, builds the op, and checks every input's gradient against central differences. */
async function check(inputs: Record<string, Spec>, build: (g: Graph, x: Record<string, string>) => string, extra: Record<string, HostValue> = {}, extraDecl?: (g: Graph) => Record<string, string>) {
  const feeds: Record<string, HostValue> = { ...extra };
  let seed = 1;
  for (const [name, s] of Object.entries(inputs)) {
    feeds[name] = f64(randomArray(s.shape.reduce((a, b) => a * b, 1), seed++, s.lo ?? -1, s.hi ?? 1), s.shape);
  }
  const r = await gradCheck(
    (g) => {
      const x: Record<string, string> = {};
      for (const [name, s] of Object.entries(inputs)) x[name] = g.input(name, 'float64', s.shape);
      Object.assign(x, extraDecl?.(g) ?? {});
      return build(g, x);
    },
    feeds,
    Object.keys(inputs),
  );
  expect(r.checked).toBeGreaterThan(0);
  expect(r.maxRelErr, JSON.stringify(r.worst)).toBeLessThan(1e-6);
}

describe('backward rules match central differences (float64)', () => {
  it('Add / Sub / Mul / Div with broadcasting', async () => {
    const sh = { a: { shape: [2, 3, 4] }, b: { shape: [3, 1] } };
    await check(sh, (g, x) => F.add(g, x.a!, x.b!));
    await check(sh, (g, x) => F.sub(g, x.a!, x.b!));
    await check({ a: { shape: [3, 1] }, b: { shape: [2, 3, 4] } }, (g, x) => F.sub(g, x.a!, x.b!));
    await check(sh, (g, x) => F.mul(g, x.a!, x.b!));
    await check({ a: { shape: [2, 3, 4] }, b: { shape: [4], lo: 0.5, hi: 2 } }, (g, x) => F.div(g, x.a!, x.b!));
  });

  it('elementwise unary ops', async () => {
    await check({ x: { shape: [3, 5] } }, (g, x) => F.neg(g, x.x!));
    await check({ x: { shape: [3, 5], lo: 0.2, hi: 3 } }, (g, x) => F.sqrt(g, x.x!));
    await check({ x: { shape: [3, 5], lo: 0.3, hi: 3 } }, (g, x) => F.reciprocal(g, x.x!));
    await check({ x: { shape: [3, 5] } }, (g, x) => F.exp(g, x.x!));
    await check({ x: { shape: [3, 5], lo: -4, hi: 4 } }, (g, x) => F.sigmoid(g, x.x!));
    await check({ x: { shape: [3, 5] } }, (g, x) => F.identity(g, x.x!));
  });

  it('MatMul: 2-D, batched, broadcast batch, N-D by 2-D', async () => {
    await check({ a: { shape: [3, 4] }, b: { shape: [4, 5] } }, (g, x) => F.matmul(g, x.a!, x.b!));
    await check({ a: { shape: [2, 3, 4, 5] }, b: { shape: [2, 3, 5, 2] } }, (g, x) => F.matmul(g, x.a!, x.b!));
    await check({ a: { shape: [2, 3, 4, 5] }, b: { shape: [2, 1, 5, 2] } }, (g, x) => F.matmul(g, x.a!, x.b!));
    await check({ a: { shape: [2, 3, 4] }, b: { shape: [4, 6] } }, (g, x) => F.matmul(g, x.a!, x.b!));
  });

  it('Gemm: transB with bias and alpha, plain with beta', async () => {
    await check({ a: { shape: [5, 4] }, b: { shape: [3, 4] }, c: { shape: [3] } }, (g, x) => F.gemm(g, x.a!, x.b!, { transB: true, alpha: 0.7, c: x.c! }));
    await check({ a: { shape: [5, 4] }, b: { shape: [4, 3] }, c: { shape: [5, 3] } }, (g, x) => F.gemm(g, x.a!, x.b!, { beta: 1.5, c: x.c! }));
  });

  it('ReduceSum / ReduceMean, with and without keepdims', async () => {
    await check({ x: { shape: [2, 3, 4] } }, (g, x) => F.reduceSum(g, x.x!, [1], true));
    await check({ x: { shape: [2, 3, 4] } }, (g, x) => F.reduceSum(g, x.x!, [0, 2], false));
    await check({ x: { shape: [2, 3, 4] } }, (g, x) => F.reduceMean(g, x.x!, [-1], true));
    await check({ x: { shape: [2, 3, 4] } }, (g, x) => F.reduceMean(g, x.x!, [1], false));
  });

  it('Softmax / LogSoftmax on the last axis', async () => {
    await check({ x: { shape: [2, 3, 6], lo: -3, hi: 3 } }, (g, x) => F.softmax(g, x.x!, -1));
    await check({ x: { shape: [4, 7], lo: -3, hi: 3 } }, (g, x) => F.logSoftmax(g, x.x!, -1));
  });

  it('shape ops: Reshape, Unsqueeze, Expand, Transpose, Concat, Slice', async () => {
    await check({ x: { shape: [2, 3, 4] } }, (g, x) => F.reshape(g, x.x!, [0, 12]));
    await check({ x: { shape: [2, 3] } }, (g, x) => F.unsqueeze(g, x.x!, [1]));
    await check({ x: { shape: [3, 1] } }, (g, x) => F.expand(g, x.x!, g.ints([2, 3, 4]), [2, 3, 4]));
    await check({ x: { shape: [2, 3, 4, 5] } }, (g, x) => F.transpose(g, x.x!, [0, 2, 3, 1]));
    await check({ a: { shape: [2, 3] }, b: { shape: [2, 4] } }, (g, x) => F.concat(g, [F.neg(g, x.b!), x.a!, x.b!], 1));
    await check({ x: { shape: [3, 7] } }, (g, x) => {
      const [p, q, r] = F.split(g, x.x!, [2, 4, 1], 1);
      return F.concat(g, [F.mul(g, p!, p!), F.neg(g, r!), q!], 1);
    });
    // a part nobody uses gets a zero gradient
    await check({ x: { shape: [6, 2] } }, (g, x) => F.split(g, x.x!, [4, 2], 0)[1]!);
    await check({ x: { shape: [2, 3, 8] } }, (g, x) => F.slice(g, x.x!, [4], [8], [-1]));
    await check({ x: { shape: [4, 6] } }, (g, x) => F.slice(g, x.x!, [1, 0], [3, 2], [0, 1]));
  });

  it('SoftmaxCrossEntropyLoss (reduction none), through the loss and through log_prob', async () => {
    const labels = i64([0, 3, 3, 4], [4]);
    const decl = (g: Graph) => ({ y: g.input('y', 'int64', [4]) });
    await check({ x: { shape: [4, 5], lo: -3, hi: 3 } }, (g, x) => F.softmaxCrossEntropy(g, x.x!, x.y!)[0], { y: labels }, decl);
    await check({ x: { shape: [4, 5], lo: -3, hi: 3 } }, (g, x) => F.softmaxCrossEntropy(g, x.x!, x.y!)[1], { y: labels }, decl);
    await check({ x: { shape: [4, 5], lo: -3, hi: 3 } }, (g, x) => {
      const [l, lp] = F.softmaxCrossEntropy(g, x.x!, x.y!);
      return F.add(g, F.unsqueeze(g, l, [1]), lp);
    }, { y: labels }, decl);
  });

  it('GatherElements (cross-entropy pick), including repeated indices', async () => {
    const idx = i64([0, 3, 3, 1, 2, 2], [3, 2]);
    await check({ x: { shape: [3, 5] } }, (g, x) => F.gatherElements(g, x.x!, x.idx!, 1), { idx }, (g) => ({ idx: g.input('idx', 'int64', [3, 2]) }));
  });
});
