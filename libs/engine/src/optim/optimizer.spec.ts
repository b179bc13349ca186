import { describe, expect, it } from 'vitest';
import { toOnnx } from '../graph/onnx.js';
import { type HostValue, Session } from '../graph/runtime.js';
import { randomArray } from '../graph/gradcheck.js';
import { ADAMW_DEFAULTS, buildOptimizerGraph, type OptimizerHyper, optimizerScalars } from './optimizer.js';
import { lrFactor } from './schedule.js';

/** torch.optim.AdamW (single-tensor path) + clip_grad_norm_, written out in float64. */
function torchAdamW(p: Float64Array[], g: Float64Array[], m: Float64Array[], v: Float64Array[], h: OptimizerHyper, lr: number, step: number, maxNorm: number) {
  const norm = Math.sqrt(g.reduce((a, x) => a + x.reduce((b, y) => b + y * y, 0), 0));
  const coef = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  const t = step + 1;
  for (let k = 0; k < p.length; k++)
    for (let i = 0; i < p[k]!.length; i++) {
      const gr = g[k]![i]! * coef;
      p[k]![i]! *= 1 - lr * h.weightDecay;
      m[k]![i]! += (gr - m[k]![i]!) * (1 - h.beta1);
      v[k]![i] = v[k]![i]! * h.beta2 + (1 - h.beta2) * gr * gr;
      const denom = Math.sqrt(v[k]![i]!) / Math.sqrt(1 - h.beta2 ** t) + h.eps;
      p[k]![i]! -= (lr / (1 - h.beta1 ** t)) * (m[k]![i]! / denom);
    }
  return norm;
}

describe('optimizer graph', () => {
  it('AdamW with clipping matches torch semantics over several steps', async () => {
    const shapes = [[3, 5], [4, 3]];
    const h: OptimizerHyper = { kind: 'adamw', ...ADAMW_DEFAULTS, weightDecay: 0.1 };
    const og = buildOptimizerGraph(shapes.map((s, i) => ({ name: `w${i}`, shape: s })), h);
    const s = await Session.create(toOnnx(og.graph), { intraOpNumThreads: 1 });
    const p = shapes.map((sh, i) => randomArray(sh[0]! * sh[1]!, 10 + i));
    const m = shapes.map((sh) => new Float64Array(sh[0]! * sh[1]!));
    const v = shapes.map((sh) => new Float64Array(sh[0]! * sh[1]!));
    let P: Float32Array[] = p.map((x) => Float32Array.from(x));
    let M: Float32Array[] = m.map((x) => Float32Array.from(x));
    let V: Float32Array[] = v.map((x) => Float32Array.from(x));
    for (let step = 0; step < 4; step++) {
      const g = shapes.map((sh, i) => randomArray(sh[0]! * sh[1]!, 100 * step + i, -2, 2));
      const lr = 0.01 * lrFactor('cosine', step, 1, 4);
      const feeds: Record<string, HostValue> = optimizerScalars(h, lr, step, 1.0);
      shapes.forEach((sh, i) => {
        feeds[`param.${i}`] = { dtype: 'float32', dims: sh, data: P[i]! };
        feeds[`grad.${i}`] = { dtype: 'float32', dims: sh, data: Float32Array.from(g[i]!) };
        feeds[`m.${i}`] = { dtype: 'float32', dims: sh, data: M[i]! };
        feeds[`v.${i}`] = { dtype: 'float32', dims: sh, data: V[i]! };
      });
      const r = await s.run(feeds);
      const norm = torchAdamW(p, g.map((x) => Float64Array.from(Float32Array.from(x))), m, v, h, lr, step, 1.0);
      expect(r[og.gradNorm]!.data[0] as number).toBeCloseTo(norm, 4);
      P = og.newParam.map((n) => r[n]!.data as Float32Array);
      M = og.newM.map((n) => r[n]!.data as Float32Array);
      V = og.newV.map((n) => r[n]!.data as Float32Array);
    }
    for (let k = 0; k < p.length; k++) for (let i = 0; i < p[k]!.length; i++) expect(Math.abs(P[k]![i]! - p[k]![i]!)).toBeLessThan(1e-6);
    await s.release();
  });

  it('SGD without clipping is p - lr·g exactly', async () => {
    const og = buildOptimizerGraph([{ name: 'w', shape: [2, 3] }], { kind: 'sgd', ...ADAMW_DEFAULTS, weightDecay: 0 });
    const s = await Session.create(toOnnx(og.graph), { intraOpNumThreads: 1 });
    const p = Float32Array.of(1, 2, 3, 4, 5, 6);
    const g = Float32Array.of(0.5, -1, 100, 0, 2, -3);
    const r = await s.run({ ...optimizerScalars({ kind: 'sgd', ...ADAMW_DEFAULTS, weightDecay: 0 }, 1, 0, 0), 'param.0': { dtype: 'float32', dims: [2, 3], data: p }, 'grad.0': { dtype: 'float32', dims: [2, 3], data: g } });
    expect(Array.from(r[og.newParam[0]!]!.data as Float32Array)).toEqual(Array.from(p, (x, i) => x - g[i]!));
    await s.release();
  });

  it('schedules follow transformers get_*_schedule_with_warmup', () => {
    expect([0, 1, 2].map((s) => lrFactor('constant', s, 2, 10))).toEqual([0, 0.5, 1]);
    expect(lrFactor('linear', 2, 2, 10)).toBe(1);
    expect(lrFactor('linear', 6, 2, 10)).toBe(0.5);
    expect(lrFactor('linear', 10, 2, 10)).toBe(0);
    expect(lrFactor('cosine', 6, 2, 10)).toBeCloseTo(0.5, 12);
    expect(lrFactor('cosine', 0, 0, 10)).toBe(1);
  });
});
