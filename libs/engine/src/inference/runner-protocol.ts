/** Messages between WorkerRunner (main thread) and runner-worker.ts (the thread that owns onnxruntime). */
import type { LoraWeights } from './types.js';

export interface WorkerInit {
  modelDir: string;
  numSlots: number;
  maxRank: number;
  intraOpThreads?: number;
}

export type SerializedLora = { rank: number; scale: number; factors: [string, { shape: number[]; data: Float32Array }, { shape: number[]; data: Float32Array }][] };

export type ToWorker =
  | { type: 'forward'; id: number; rows: { cacheId: number; tokens: number[]; slot: number }[]; allPositions: boolean }
  | { type: 'setSlot'; slot: number; weights: SerializedLora | null }
  | { type: 'release'; cacheId: number }
  | { type: 'dispose'; id: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; id: number; logits: Float32Array[] }
  | { type: 'error'; id: number | null; message: string }
  | { type: 'disposed'; id: number };

export function serializeLora(w: LoraWeights | null): SerializedLora | null {
  if (!w) return null;
  return { rank: w.rank, scale: w.scale, factors: [...w.factors].map(([k, f]) => [k, f.a, f.b]) };
}

export function deserializeLora(w: SerializedLora | null): LoraWeights | null {
  if (!w) return null;
  return { rank: w.rank, scale: w.scale, factors: new Map(w.factors.map(([k, a, b]) => [k, { a, b }])) };
}
