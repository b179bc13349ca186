/**
 * Token sampling with OpenAI/vLLM semantics: temperature 0 = greedy (ties → lowest id), otherwise softmax(logits / T)
 * restricted by top_k then top_p, drawn with a per-request seeded generator. Logprobs always describe the model's
 * own distribution (log_softmax of the raw logits), as vLLM reports them.
 */
export interface SamplingParams {
  temperature: number;
  topP: number;
  /** 0 or negative = disabled. */
  topK: number;
  seed?: number;
  /** OpenAI: subtract presencePenalty once from every token already generated, frequencyPenalty per occurrence. */
  presencePenalty?: number;
  frequencyPenalty?: number;
}

/** Logits with OpenAI's presence/frequency penalties applied for the tokens generated so far (a copy). */
export function applyPenalties(logits: Float32Array, counts: Map<number, number>, presence: number, frequency: number): Float32Array {
  const out = Float32Array.from(logits);
  for (const [id, n] of counts) out[id] = out[id]! - frequency * n - (n > 0 ? presence : 0);
  return out;
}

/** mulberry32: small, fast, deterministic per seed. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The n most likely ids with their logprobs, best first (ties → lower id first). */
export function topLogprobs(logprobs: Float64Array, n: number): { id: number; logprob: number }[] {
  if (n <= 0) return [];
  const best: { id: number; logprob: number }[] = [];
  for (let i = 0; i < logprobs.length; i++) {
    const lp = logprobs[i];
    if (best.length === n && lp <= best[n - 1].logprob) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].logprob < lp) at--;
    best.splice(at, 0, { id: i, logprob: lp });
    if (best.length > n) best.pop();
  }
  return best;
}

export function sampleToken(logits: Float32Array, params: SamplingParams, random: SeededRandom): number {
  if (params.temperature <= 0) return argmax(logits);
  const V = logits.length;
  const ids = Array.from({ length: V }, (_, i) => i);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  let keep = params.topK > 0 ? Math.min(params.topK, V) : V;
  const max = logits[ids[0]];
  const probs = new Float64Array(keep);
  let sum = 0;
  for (let i = 0; i < keep; i++) sum += probs[i] = Math.exp((logits[ids[i]] - max) / params.temperature);
  if (params.topP < 1) {
    // smallest prefix whose mass reaches top_p (always at least one token)
    let acc = 0;
    let cut = keep;
    for (let i = 0; i < keep; i++) {
      acc += probs[i] / sum;
      if (acc >= params.topP) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    sum = 0;
    for (let i = 0; i < keep; i++) sum += probs[i];
  }
  let u = random.next() * sum;
  for (let i = 0; i < keep; i++) {
    u -= probs[i];
    if (u < 0) return ids[i];
  }
  return ids[keep - 1];
}
