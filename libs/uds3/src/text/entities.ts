/**
 * Entities that become knowledge-graph nodes: German legal citations ("§ 35 BauGB", "§§ 1, 2 VwVfG" → first,
 * "Art. 14 GG") and keywords (frequent non-stop-words). Citation keys are normalised so "§35 Abs. 1 BauGB"
 * and "§ 35 BauGB" meet at the same node; the law code ("BauGB") is a node of its own.
 */
import { isStopword } from './stopwords.js';
import { words } from './tokens.js';

export interface Citation {
  /** Normalised key, e.g. "§ 35 BauGB" or "Art. 14 GG". */
  key: string;
  law: string;
}

// Law abbreviations: a capital followed by letters, at least one more capital (BauGB, GG, VwVfG, BImSchG, EEG, BGB).
const LAW = String.raw`([A-ZÄÖÜ][A-Za-zÄÖÜäöüß]*[A-ZÄÖÜ][A-Za-zÄÖÜäöüß]*)`;
const DETAIL = String.raw`(?:\s*(?:Abs\.|Absatz)\s*\d+[a-z]?)?(?:\s*(?:S\.|Satz)\s*\d+)?(?:\s*(?:Nr\.|Nummer)\s*\d+[a-z]?)?`;
const PARAGRAPH = new RegExp(String.raw`§§?\s*(\d+[a-z]?)(?:\s*(?:,|und|bis|-)\s*\d+[a-z]?)*${DETAIL}\s+${LAW}`, 'gu');
const ARTICLE = new RegExp(String.raw`\bArt(?:\.|ikel)\s*(\d+[a-z]?)${DETAIL}\s+${LAW}`, 'gu');

export function extractCitations(text: string): Citation[] {
  const found = new Map<string, Citation>();
  for (const m of text.matchAll(PARAGRAPH)) found.set(`§ ${m[1]} ${m[2]}`, { key: `§ ${m[1]} ${m[2]}`, law: m[2] });
  for (const m of text.matchAll(ARTICLE)) found.set(`Art. ${m[1]} ${m[2]}`, { key: `Art. ${m[1]} ${m[2]}`, law: m[2] });
  return [...found.values()];
}

/** The `limit` most frequent content words (length >= 4, not stop-words, not pure numbers). */
export function extractKeywords(text: string, limit = 8): string[] {
  const counts = new Map<string, number>();
  for (const w of words(text)) {
    if (w.length < 4 || isStopword(w) || /^\d+$/.test(w)) continue;
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([w]) => w);
}

/** Every content word of a query (queries are short: all their words count as keywords). */
export function queryKeywords(text: string): string[] {
  return [...new Set(words(text).filter((w) => w.length >= 4 && !isStopword(w) && !/^\d+$/.test(w)))];
}

export const entityNodeId = {
  keyword: (word: string) => `kw:${word}`,
  citation: (key: string) => `cite:${key}`,
  law: (law: string) => `law:${law}`,
  document: (id: string) => `doc:${id}`,
  chunk: (id: string) => `chunk:${id}`,
  domain: (d: string) => `domain:${d}`,
  type: (t: string) => `type:${t}`,
};
