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
): Fused[] {
  const byId = new Map<string, Fused>();
  const entry = (id: string) => {
    let e = byId.get(id);
    if (!e) byId.set(id, (e = { chunk_id: id, score: 0, scores: { vector: 0, graph: 0, keyword: 0 } }));
    return e;
  };
  for (const [type, list] of Object.entries(lists) as [SearchType, ScoredId[]][]) {
    if (!list.length) continue;
    const sorted = [...list].sort((a, b) => b.score - a.score);
    const best = Math.max(sorted[0].score, 1e-12);
    sorted.forEach((hit, rank) => {
      const e = entry(hit.chunk_id);
      const normalised = Math.max(0, hit.score) / best;
      e.scores[type] = normalised;
      e.score += method === 'rrf' ? weights[type] / (RRF_K + rank + 1) : weights[type] * normalised;
    });
  }
  return [...byId.values()].sort((a, b) => b.score - a.score || (a.chunk_id < b.chunk_id ? -1 : 1));
}
