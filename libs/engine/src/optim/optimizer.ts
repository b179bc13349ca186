// The optimizer step as an ONNX graph: global-norm clipping, then AdamW (torch.optim.AdamW semantics) or SGD,
// over all LoRA tensors at once. Step-dependent scalars (lr, bias corrections) are fed by the host.
import { Graph } from '../graph/ir.js';
import * as F from '../graph/ops.js';
import type { HostValue } from '../graph/runtime.js';

export type OptimizerKind = 'adamw' | 'sgd';

export interface OptimizerHyper {
  kind: OptimizerKind;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export interface OptimizerGraph {
  graph: Graph;
  /** Inputs per parameter i: `param.i`, `grad.i`, and for adamw `m.i`, `v.i`. Output names per parameter: */
  newParam: string[];
  newM: string[];
  newV: string[];
  gradNorm: string;
}

/** Scalar feeds for one update (torch computes these in double precision on the host too). */
export function optimizerScalars(h: OptimizerHyper, lr: number, step: number, maxGradNorm: number): Record<string, HostValue> {
  const s = (v: number): HostValue => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) });
  const feeds: Record<string, HostValue> = { max_norm: s(maxGradNorm > 0 ? maxGradNorm : Infinity), lr: s(lr) };
  if (h.kind === 'adamw') {
    const t = step + 1;
    feeds.decay = s(1 - lr * h.weightDecay);
    feeds.step_size = s(lr / (1 - h.beta1 ** t));
    feeds.bc2_sqrt = s(Math.sqrt(1 - h.beta2 ** t));
  }
  return feeds;
}

export function buildOptimizerGraph(params: { name: string; shape: number[] }[], h: OptimizerHyper): OptimizerGraph {
  const g = new Graph('clara_optimizer', 'float32');
  const scalar = (n: string) => g.input(n, 'float32', []);
  const maxNorm = scalar('max_norm');
  const lr = scalar('lr');
  const grads = params.map((p, i) => g.input(`grad.${i}`, 'float32', p.shape));
  const ps = params.map((p, i) => g.input(`param.${i}`, 'float32', p.shape));
  // torch.nn.utils.clip_grad_norm_: coef = min(1, max_norm / (‖g‖ + 1e-6)); max_norm = inf disables it.
  const sq = grads.map((gr) => F.reduceSumSquare(g, gr, [...g.shape(gr).keys()], false));
  const norm = F.sqrt(g, F.sum(g, sq));
  const normOut = g.node('Identity', [norm], [{ dtype: 'float32', shape: [] }], {}, 'grad_norm')[0]!;
  g.output(normOut);
  const coef = F.min(g, [g.scalar(1), F.div(g, maxNorm, F.add(g, norm, g.scalar(1e-6)))]);
  const out = (x: string, prefix: string) => {
    const o = g.node('Identity', [x], [{ ...g.info(x) }], {}, prefix)[0]!;
    g.output(o);
    return o;
  };
  const r: OptimizerGraph = { graph: g, newParam: [], newM: [], newV: [], gradNorm: normOut };
  const adam = h.kind === 'adamw' ? { decay: scalar('decay'), stepSize: scalar('step_size'), bc2: scalar('bc2_sqrt') } : undefined;
  params.forEach((p, i) => {
    const gc = F.mul(g, grads[i]!, coef);
    if (!adam) {
      const gw = h.weightDecay > 0 ? F.add(g, gc, F.mul(g, ps[i]!, g.scalar(h.weightDecay))) : gc;
      r.newParam.push(out(F.sub(g, ps[i]!, F.mul(g, gw, lr)), 'new_param'));
      return;
    }
    const m = g.input(`m.${i}`, 'float32', p.shape);
    const v = g.input(`v.${i}`, 'float32', p.shape);
    const decayed = F.mul(g, ps[i]!, adam.decay);
    const m2 = F.add(g, m, F.mul(g, F.sub(g, gc, m), g.scalar(1 - h.beta1))); // exp_avg.lerp_(grad, 1 - beta1)
    const v2 = F.add(g, F.mul(g, v, g.scalar(h.beta2)), F.mul(g, F.mul(g, gc, gc), g.scalar(1 - h.beta2)));
    const denom = F.add(g, F.div(g, F.sqrt(g, v2), adam.bc2), g.scalar(h.eps));
    r.newParam.push(out(F.sub(g, decayed, F.mul(g, F.div(g, m2, denom), adam.stepSize)), 'new_param'));
    r.newM.push(out(m2, 'new_m'));
    r.newV.push(out(v2, 'new_v'));
  });
  return r;
}
