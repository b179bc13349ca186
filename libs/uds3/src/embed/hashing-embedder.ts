/**
 * `hashing-embedder`: the no-model fallback. Feature hashing (the "hashing trick") of word unigrams and bigrams
 * plus character 4-grams of each word, signed by a second hash, log-scaled term frequency, L2-normalised.
 * It captures lexical overlap (including German compound parts via the 4-grams), not meaning: configure an
 * ONNX sentence-embedding model for semantic search.
 */
import { words } from '../text/tokens.js';
import { isStopword } from '../text/stopwords.js';
import { l2normalise, type Embedder } from './embedder.js';

/** FNV-1a 32-bit. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class HashingEmbedder implements Embedder {
  readonly name: string;
  constructor(readonly dimension = 384) {
    this.name = `hashing-embedder-${dimension}`;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    const add = (f: string, w: number) => counts.set(f, (counts.get(f) ?? 0) + w);
    const ws = words(text).filter((w) => !isStopword(w));
    for (let i = 0; i < ws.length; i++) {
      add(`w:${ws[i]}`, 1);
      if (i + 1 < ws.length) add(`b:${ws[i]} ${ws[i + 1]}`, 0.5);
      const padded = `<${ws[i]}>`;
      for (let j = 0; j + 4 <= padded.length; j++) add(`c:${padded.slice(j, j + 4)}`, 0.25);
    }
    const v = new Float32Array(this.dimension);
    for (const [feature, tf] of counts) {
      const h = fnv1a(feature);
      const sign = fnv1a(feature, 0x9747b28c) & 1 ? 1 : -1;
      v[h % this.dimension] += sign * (1 + Math.log(tf + 1));
    }
    return l2normalise(v);
  }
}
