import { describe, expect, it } from 'vitest';
import { applyPenalties, SeededRandom, logSoftmax, sampleToken, topLogprobs } from './sampling.js';

const logits = Float32Array.from([1.0, 3.0, 2.5, -1.0, 3.0]);

describe('sampling', () => {
  it('temperature 0 is greedy and picks the lowest id on ties', () => {
    const r = new SeededRandom(1);
    for (let i = 0; i < 5; i++) expect(sampleToken(logits, { temperature: 0, topP: 1, topK: 0 }, r)).toBe(1);
  });

  it('log_softmax sums to one in probability space', () => {
    const lp = logSoftmax(logits);
    const total = lp.reduce((s, v) => s + Math.exp(v), 0);
    expect(total).toBeCloseTo(1, 12);
    expect(lp[1] - lp[2]).toBeCloseTo(0.5, 6);
  });

  it('top_logprobs returns the n best in order', () => {
    const best = topLogprobs(logSoftmax(logits), 3);
    expect(best.map((b) => b.id)).toEqual([1, 4, 2]);
  });

  it('top_k=1 and tiny top_p collapse to the argmax', () => {
    const r = new SeededRandom(7);
    for (let i = 0; i < 20; i++) {
      expect(sampleToken(logits, { temperature: 1, topP: 1, topK: 1 }, r)).toBe(1);
      expect(sampleToken(logits, { temperature: 1, topP: 0.01, topK: 0 }, r)).toBe(1);
    }
  });

  it('top_k restricts draws to the k most likely ids', () => {
    const r = new SeededRandom(3);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(sampleToken(logits, { temperature: 5, topP: 1, topK: 3 }, r));
    expect([...seen].sort()).toEqual([1, 2, 4]);
  });

  it('draws follow softmax(logits/T) and are reproducible per seed', () => {
    const params = { temperature: 0.7, topP: 1, topK: 0 };
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const counts = new Float64Array(logits.length);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const x = sampleToken(logits, params, a);
      expect(sampleToken(logits, params, b)).toBe(x);
      counts[x]++;
    }
    const scaled = Float32Array.from(logits, (v) => v / params.temperature);
    const p = logSoftmax(scaled).map(Math.exp);
    for (let i = 0; i < logits.length; i++) expect(Math.abs(counts[i] / n - p[i])).toBeLessThan(0.015);
  });

  it('presence and frequency penalties lower already generated tokens as OpenAI defines', () => {
    const out = applyPenalties(logits, new Map([[1, 3], [2, 1]]), 0.5, 0.25);
    expect(out[1]).toBeCloseTo(3 - 0.5 - 0.75, 6);
    expect(out[2]).toBeCloseTo(2.5 - 0.5 - 0.25, 6);
    expect(out[4]).toBe(logits[4]);
    expect(logits[1]).toBe(3); // the raw logits are untouched (logprobs report them)
    expect(sampleToken(out, { temperature: 0, topP: 1, topK: 0 }, new SeededRandom(1))).toBe(4);
  });
});
