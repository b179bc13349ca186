/**
 * MinHash signatures over word 5-shingles and LSH banding: two documents whose shingle sets have Jaccard
 * similarity s share at least one band with probability 1 - (1 - s^rows)^bands (16 bands × 4 rows: s=0.8 → 0.999, s=0.3 → 0.12).
 */
import { fnv1a } from '../embed/hashing-embedder.js';
import { words } from '../text/tokens.js';

export const MINHASH_PERMUTATIONS = 64;
export const LSH_BANDS = 16;
export const LSH_ROWS = MINHASH_PERMUTATIONS / LSH_BANDS;

export function shingles(text: string, size = 5): Set<string> {
  const ws = words(text);
  const out = new Set<string>();
  if (ws.length < size) {
    if (ws.length) out.add(ws.join(' '));
    return out;
  }
  for (let i = 0; i + size <= ws.length; i++) out.add(ws.slice(i, i + size).join(' '));
  return out;
}

export function minhash(text: string): number[] {
  const sig = new Array<number>(MINHASH_PERMUTATIONS).fill(0xffffffff);
  for (const s of shingles(text)) {
    const h1 = fnv1a(s);
    const h2 = fnv1a(s, 0x5bd1e995) | 1;
    for (let i = 0; i < MINHASH_PERMUTATIONS; i++) {
      const h = (h1 + Math.imul(i, h2)) >>> 0; // double hashing: h1 + i·h2 mod 2^32
      if (h < sig[i]) sig[i] = h;
    }
  }
  return sig;
}

/** One bucket key per band. */
export function lshBands(sig: number[]): string[] {
  const out: string[] = [];
  for (let b = 0; b < LSH_BANDS; b++) out.push(`${b}:${sig.slice(b * LSH_ROWS, (b + 1) * LSH_ROWS).map((x) => x.toString(36)).join('.')}`);
  return out;
}

export function estimatedJaccard(a: number[], b: number[]): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}
