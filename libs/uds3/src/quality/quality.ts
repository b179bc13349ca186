/**
 * Quality pipeline: every signal is computed and stored; the overall score is their weighted mean.
 * Rules (thresholds and weights) are configuration, not code.
 */
import type { QualityReport, QualitySignals } from '../model.js';
import { detectLanguage, pii, readability, repetition } from './signals.js';

export interface QualityRules {
  minTokens: number;
  maxTokens: number;
  allowedLanguages: string[];
  /** Repetition ratio at which the repetition score reaches 0. */
  maxRepetition: number;
  /** Estimated Jaccard similarity from which a document counts as a near-duplicate. */
  duplicateThreshold: number;
  /** Score of the PII signal when any finding is present (1 when none). */
  piiScore: number;
  weights: Record<keyof QualitySignals, number>;
}

export const DEFAULT_QUALITY_RULES: QualityRules = {
  minTokens: 20,
  maxTokens: 100_000,
  allowedLanguages: ['de', 'en'],
  maxRepetition: 0.5,
  duplicateThreshold: 0.8,
  piiScore: 0.3,
  weights: { length: 1, language: 1, repetition: 1.5, near_duplicate: 1, pii: 1, readability: 0.5 },
};

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** All signals except near-duplicates, which need the store (see `withNearDuplicate`). */
export function scoreQuality(content: string, tokens: number, declaredLanguage: string | undefined, rules: QualityRules): QualityReport {
  const detected = detectLanguage(content);
  const language = declaredLanguage || detected.language;
  const lengthScore =
    tokens < rules.minTokens ? tokens / rules.minTokens : tokens > rules.maxTokens ? rules.maxTokens / tokens : 1;
  const rep = repetition(content);
  const worst = Math.max(rep.duplicate_line_ratio, rep.repeated_ngram_ratio, rep.boilerplate_ratio);
  const found = pii(content);
  const read = readability(content, language);
  const signals: QualitySignals = {
    length: { chars: content.length, tokens, score: round3(clamp01(lengthScore)) },
    language: {
      detected: detected.language,
      confidence: round3(detected.confidence),
      score: rules.allowedLanguages.includes(language) ? 1 : 0.3,
    },
    repetition: {
      duplicate_line_ratio: round3(rep.duplicate_line_ratio),
      repeated_ngram_ratio: round3(rep.repeated_ngram_ratio),
      boilerplate_ratio: round3(rep.boilerplate_ratio),
      score: round3(clamp01(1 - worst / rules.maxRepetition)),
    },
    near_duplicate: { duplicate_of: null, similarity: 0, score: 1 },
    pii: { ...found, score: found.emails + found.phones + found.ibans > 0 ? rules.piiScore : 1 },
    // Flesch 0..60 maps to 0.4..1: dense legal prose is normal here, so readability only nudges the score.
    readability: { ...read, score: round3(0.4 + 0.6 * clamp01(read.flesch / 60)) },
  };
  return { score: overall(signals, rules), signals };
}

export function withNearDuplicate(report: QualityReport, duplicateOf: string | null, similarity: number, rules: QualityRules): QualityReport {
  const signals = {
    ...report.signals,
    near_duplicate: {
      duplicate_of: duplicateOf,
      similarity: round3(similarity),
      score: duplicateOf ? round3(1 - similarity) : 1,
    },
  };
  return { score: overall(signals, rules), signals };
}

function overall(signals: QualitySignals, rules: QualityRules): number {
  let sum = 0;
  let weight = 0;
  for (const [name, w] of Object.entries(rules.weights) as [keyof QualitySignals, number][]) {
    sum += w * signals[name].score;
    weight += w;
  }
  return round3(weight ? sum / weight : 0);
}
