/** The per-document quality signals (all deterministic, no model). */
import { ENGLISH_STOPWORDS, GERMAN_STOPWORDS } from '../text/stopwords.js';
import { words } from '../text/tokens.js';

export function detectLanguage(text: string): { language: string; confidence: number } {
  const ws = words(text);
  if (ws.length === 0) return { language: 'unknown', confidence: 0 };
  let de = 0;
  let en = 0;
  for (const w of ws) {
    if (GERMAN_STOPWORDS.has(w)) de++;
    if (ENGLISH_STOPWORDS.has(w)) en++;
  }
  const umlauts = (text.match(/[äöüß]/gi) ?? []).length;
  de += Math.min(umlauts, ws.length * 0.05);
  const hits = de + en;
  if (hits < Math.max(1, ws.length * 0.05)) return { language: 'unknown', confidence: 0 };
  return de >= en ? { language: 'de', confidence: de / hits } : { language: 'en', confidence: en / hits };
}

const BOILERPLATE = [
  /alle rechte vorbehalten/i,
  /all rights reserved/i,
  /cookie/i,
  /impressum/i,
  /datenschutz(erklärung)?/i,
  /privacy policy/i,
  /^\s*(home|startseite|menü|menu|navigation|login|anmelden|suche|search|kontakt|contact)\s*$/i,
  /^\s*(seite|page)\s+\d+(\s+(von|of)\s+\d+)?\s*$/i,
  /^\s*©/,
];

export function repetition(text: string): { duplicate_line_ratio: number; repeated_ngram_ratio: number; boilerplate_ratio: number } {
  const lines = text.split(/\n+/).map((l) => l.trim()).filter(Boolean);
  const seen = new Set<string>();
  let duplicateLines = 0;
  let boilerplate = 0;
  for (const line of lines) {
    if (seen.has(line.toLowerCase())) duplicateLines++;
    seen.add(line.toLowerCase());
    if (BOILERPLATE.some((re) => re.test(line))) boilerplate++;
  }
  // share of word 3-grams that occur more than once (Gopher-style repetition)
  const ws = words(text);
  const grams = new Map<string, number>();
  for (let i = 0; i + 3 <= ws.length; i++) {
    const g = `${ws[i]} ${ws[i + 1]} ${ws[i + 2]}`;
    grams.set(g, (grams.get(g) ?? 0) + 1);
  }
  let repeated = 0;
  let total = 0;
  for (const c of grams.values()) {
    total += c;
    if (c > 1) repeated += c;
  }
  return {
    duplicate_line_ratio: lines.length ? duplicateLines / lines.length : 0,
    repeated_ngram_ratio: total ? repeated / total : 0,
    boilerplate_ratio: lines.length ? boilerplate / lines.length : 0,
  };
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
// International (+49 …) or national (0… with area code) numbers with at least 7 digits.
const PHONE = /(?:\+\d{1,3}[\s/-]?(?:\(0\)\s?)?|\b0)\d{2,5}[\s/-]?\d{3,}(?:[\s-]?\d{2,})*/g;
const IBAN = /\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b/g;

/** IBAN check digits: move the first four characters to the end, letters → numbers, mod 97 must be 1. */
export function validIban(candidate: string): boolean {
  const iban = candidate.replace(/\s+/g, '').toUpperCase();
  if (iban.length < 15 || iban.length > 34) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of moved) {
    const code = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const digit of code) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

export function pii(text: string): { emails: number; phones: number; ibans: number } {
  const ibans = (text.match(IBAN) ?? []).filter(validIban);
  const withoutIbans = ibans.reduce((t, i) => t.replace(i, ' '), text);
  const phones = (withoutIbans.match(PHONE) ?? []).filter((p) => p.replace(/\D/g, '').length >= 7);
  return { emails: (text.match(EMAIL) ?? []).length, phones: phones.length, ibans: ibans.length };
}

function syllables(word: string): number {
  const groups = word.toLowerCase().match(/[aeiouyäöü]+/g);
  return Math.max(1, groups?.length ?? 1);
}

/** Flesch reading ease; German texts use Amstad's adaptation (180 − ASL − 58.5·ASW). */
export function readability(text: string, language: string): { flesch: number; avg_sentence_words: number } {
  const sentences = text.split(/[.!?]+(?:\s|$)/).filter((s) => /[\p{L}\p{N}]/u.test(s)).length || 1;
  const ws = words(text).filter((w) => /\p{L}/u.test(w));
  if (ws.length === 0) return { flesch: 0, avg_sentence_words: 0 };
  const asl = ws.length / sentences;
  const asw = ws.reduce((s, w) => s + syllables(w), 0) / ws.length;
  const flesch = language === 'de' ? 180 - asl - 58.5 * asw : 206.835 - 1.015 * asl - 84.6 * asw;
  return { flesch: Math.round(flesch * 10) / 10, avg_sentence_words: Math.round(asl * 10) / 10 };
}
