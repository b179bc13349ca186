// Finite-difference gradient checking in float64: used by the per-operator and whole-model specs.
import { gradients } from './autodiff.js';
import { Graph, numel } from './ir.js';
import * as F from './ops.js';
import { f64, type HostValue, Session } from './runtime.js';
import { toOnnx } from './onnx.js';

export interface GradCheckResult {
  maxAbsErr: number;
  maxRelErr: number;
  checked: number;
  worst: { name: string; index: number; analytic: number; numeric: number };
}

/** Deterministic pseudo-random numbers in [lo, hi) (mulberry32). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/**
 * `build` receives a float64 graph and returns the tensor to differentiate. The checked loss is
 * sum(out * R) with a fixed random R, so every output element matters. `feeds` supplies values for the graph
 * inputs, `wrt` names the float64 inputs to check; `maxPerTensor` caps the perturbed elements per input.
 */
export async function gradCheck(
  build: (g: Graph) => string,
  feeds: Record<string, HostValue>,
  wrt: string[],
  opts: { h?: number; maxPerTensor?: number; seed?: number } = {},
): Promise<GradCheckResult> {
  const h = opts.h ?? 1e-6;
  const g = new Graph('gradcheck', 'float64');
  const out = build(g);
  const shape = g.shape(out) as number[];
  const r = g.initializer('R', 'float64', shape, randomArray(numel(shape), opts.seed ?? 7));
  const loss = F.reduceSum(g, F.mul(g, out, r), [...shape.keys()], false);
  const lossOut = shape.length === 0 ? F.identity(g, F.mul(g, out, r)) : loss;
  g.output(lossOut);
  const grads = gradients(g, lossOut, wrt);
  const gradNames = wrt.map((w) => {
    const n = F.identity(g, grads.get(w)!);
    g.output(n);
    return n;
  });
  const s = await Session.create(toOnnx(g), { intraOpNumThreads: 1 });
  const base = await s.run(feeds);
  let maxAbsErr = 0;
  let maxRelErr = 0;
  let checked = 0;
  let worst = { name: '', index: -1, analytic: 0, numeric: 0 };
  const scale = Math.max(1e-3, ...wrt.flatMap((_, k) => Array.from(base[gradNames[k]!]!.data as Float64Array, Math.abs)));
  for (let k = 0; k < wrt.length; k++) {
    const name = wrt[k]!;
    const x = feeds[name]!.data as Float64Array;
    const analytic = base[gradNames[k]!]!.data as Float64Array;
    const n = x.length;
    const step = Math.max(1, Math.floor(n / (opts.maxPerTensor ?? 64)));
    for (let i = 0; i < n; i += step) {
      const orig = x[i]!;
      const pert = new Float64Array(x);
      pert[i] = orig + h;
      const fp = (await s.run({ ...feeds, [name]: f64(pert, feeds[name]!.dims) }, [lossOut]))[lossOut]!.data[0] as number;
      pert[i] = orig - h;
      const fm = (await s.run({ ...feeds, [name]: f64(pert, feeds[name]!.dims) }, [lossOut]))[lossOut]!.data[0] as number;
      const numeric = (fp - fm) / (2 * h);
      const a = analytic[i]!;
      const abs = Math.abs(a - numeric);
      const rel = abs / scale;
      checked++;
      if (rel > maxRelErr) worst = { name, index: i, analytic: a, numeric };
      maxAbsErr = Math.max(maxAbsErr, abs);
      maxRelErr = Math.max(maxRelErr, rel);
    }
  }
  await s.release();
  return { maxAbsErr, maxRelErr, checked, worst };
}
