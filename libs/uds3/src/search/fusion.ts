/**
 * Fusion of per-signal rankings. `weighted`: each signal's scores divided by that signal's best score
 * (so every signal spans [0, 1]), then the weighted sum. `rrf`: reciprocal rank fusion, Σ w / (k + rank).
 */
import type { ScoredId, SearchType } from '../model.js';

export interface Fused {
  chunk_id: string;
  score: number;
  scores: Record<SearchType, number>;
}

export const RRF_K = 60;

export function fuse(
  lists: Partial<Record<SearchType, ScoredId[]>>,
  weights: Record<SearchType, number>,
  method: 'weighted' | 'rrf',
  limit = Infinity,
): Fused[] {
  const byId = new Map<string, Fused>();
  const entry = (id: string) => {
    let e = byId.get(id);
    if (!e) byId.set(id, (e = { chunk_id: id, score: 0, scores: { vector: 0, graph: 0, keyword: 0 } }));
    return e;
  };
  for (const [type, list] of Object.entries(lists) as [SearchType, ScoredId[]][]) {
    if (!list.length) continue;
    // the stores hand their hits out best first; a copy is sorted only when one does not
    const sorted = list.every((hit, i) => i === 0 || list[i - 1].score >= hit.score) ? list : [...list].sort((a, b) => b.score - a.score);
    const best = Math.max(sorted[0].score, 1e-12);
    sorted.forEach((hit, rank) => {
      const e = entry(hit.chunk_id);
      const normalised = Math.max(0, hit.score) / best;
      e.scores[type] = normalised;
      e.score += method === 'rrf' ? weights[type] / (RRF_K + rank + 1) : weights[type] * normalised;
    });
  }
  let all = [...byId.values()];
  if (all.length > limit) {
    // only what can make the top `limit` is sorted: the entries scoring at least the limit-th best score
    const scores = new Float64Array(all.length);
    for (let i = 0; i < all.length; i++) scores[i] = all[i].score;
    const floor = scores.sort()[all.length - limit];
    all = all.filter((e) => e.score >= floor);
  }
  return all.sort((a, b) => b.score - a.score || (a.chunk_id < b.chunk_id ? -1 : 1)).slice(0, limit);
}
