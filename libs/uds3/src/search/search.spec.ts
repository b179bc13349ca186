import { describe, expect, it } from 'vitest';
import { Uds3InputError } from '../errors.js';
import { fuse, RRF_K } from './fusion.js';
import { parseSearchRequest } from './request.js';

const fieldOf = (body: unknown) => {
  try {
    parseSearchRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(Uds3InputError);
    return (err as Uds3InputError).field;
  }
  throw new Error('accepted');
};

describe('parseSearchRequest', () => {
  it('accepts the seed body and normalises weights over the requested types', () => {
    const q = parseSearchRequest({
      query_text: 'Verwaltungsrecht Photovoltaik Dachanlage',
      top_k: 100,
      filters: { domain: 'verwaltungsrecht' },
      min_quality_score: 0.6,
      search_types: ['vector', 'graph'],
      weights: { vector: 0.6, graph: 0.4 },
    });
    expect(q.weights).toEqual({ vector: 0.6, graph: 0.4, keyword: 0 });
    expect(q.filter).toEqual({ domain: ['verwaltungsrecht'], min_quality_score: 0.6 });
  });

  it('names the field of each bad input', () => {
    expect(fieldOf({ query_text: '  ' })).toBe('query_text');
    expect(fieldOf({ query_text: 'x', top_k: 0 })).toBe('top_k');
    expect(fieldOf({ query_text: 'x', top_k: 1001 })).toBe('top_k');
    expect(fieldOf({ query_text: 'x', search_types: ['semantic'] })).toBe('search_types');
    expect(fieldOf({ query_text: 'x', weights: { vector: -1 } })).toBe('weights.vector');
    expect(fieldOf({ query_text: 'x', filters: { author: 'me' } })).toBe('filters.author');
    expect(fieldOf({ query_text: 'x', min_quality_score: 2 })).toBe('min_quality_score');
    expect(fieldOf({ query_text: 'x', fusion: 'max' })).toBe('fusion');
  });
});

describe('fuse', () => {
  const lists = {
    vector: [{ chunk_id: 'a', score: 0.9 }, { chunk_id: 'b', score: 0.45 }],
    keyword: [{ chunk_id: 'b', score: 2 }, { chunk_id: 'c', score: 1 }],
  };

  it('weighted: each signal normalised by its best score, then weighted', () => {
    const out = fuse(lists, { vector: 0.5, keyword: 0.5, graph: 0 }, 'weighted');
    const byId = Object.fromEntries(out.map((o) => [o.chunk_id, o]));
    expect(byId.a.score).toBeCloseTo(0.5);
    expect(byId.b.score).toBeCloseTo(0.5 * 0.5 + 0.5 * 1);
    expect(byId.c.score).toBeCloseTo(0.25);
    expect(out[0].chunk_id).toBe('b');
    expect(byId.b.scores).toEqual({ vector: 0.5, keyword: 1, graph: 0 });
  });

  it('rrf: sums weight / (k + rank)', () => {
    const out = fuse(lists, { vector: 1, keyword: 1, graph: 0 }, 'rrf');
    const b = out.find((o) => o.chunk_id === 'b')!;
    expect(b.score).toBeCloseTo(1 / (RRF_K + 2) + 1 / (RRF_K + 1));
    expect(out[0].chunk_id).toBe('b');
  });

  it('the best `limit` are the first `limit` of the whole fusion, ties included', () => {
    // scores from a few values, so many entries tie at the cut; some lists out of order
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let round = 0; round < 200; round++) {
      const list = () =>
        Array.from({ length: Math.floor(rnd() * 40) }, () => ({ chunk_id: `c${Math.floor(rnd() * 60)}`, score: Math.floor(rnd() * 4) / 2 }))
          .filter((h, i, all) => all.findIndex((x) => x.chunk_id === h.chunk_id) === i)
          .sort((a, b) => (round % 3 === 0 ? 0 : b.score - a.score));
      const ls = { vector: list(), keyword: list(), graph: list() };
      const weights = { vector: rnd(), keyword: rnd(), graph: rnd() };
      for (const method of ['weighted', 'rrf'] as const) {
        const whole = fuse(ls, weights, method);
        for (const limit of [1, 3, 10, 50]) expect(fuse(ls, weights, method, limit)).toEqual(whole.slice(0, limit));
        // a list out of order counts as if sorted best first (ties keep their order)
        const sorted = Object.fromEntries(Object.entries(ls).map(([t, l]) => [t, [...l].sort((a, b) => b.score - a.score)]));
        expect(whole).toEqual(fuse(sorted, weights, method));
      }
    }
  });
});
