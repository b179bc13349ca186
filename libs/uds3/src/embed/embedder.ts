/** Turns texts into unit-length vectors. Implementations: `HashingEmbedder` (no model) and `OnnxEmbedder`. */
export interface Embedder {
  /** Stable name recorded with the vectors (changing embedders means re-embedding). */
  readonly name: string;
  readonly dimension: number;
  embed(texts: string[]): Promise<Float32Array[]>;
  close?(): Promise<void>;
}

export function l2normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot;
}
