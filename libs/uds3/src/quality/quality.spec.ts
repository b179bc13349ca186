import { describe, expect, it } from 'vitest';
import { estimatedJaccard, minhash, shingles } from './minhash.js';
import { DEFAULT_QUALITY_RULES, scoreQuality } from './quality.js';
import { detectLanguage, pii, repetition, validIban } from './signals.js';

const german =
  'Die Errichtung einer Photovoltaikanlage auf dem Dach eines Wohnhauses ist in den meisten Bundesländern verfahrensfrei. ' +
  'Dennoch sind die Vorschriften des Bauplanungsrechts und des Denkmalschutzes zu beachten, wenn das Gebäude unter Schutz steht.';

describe('quality signals', () => {
  it('detects German and English', () => {
    expect(detectLanguage(german).language).toBe('de');
    expect(detectLanguage('The applicant must submit the building permit application to the authority in writing.').language).toBe('en');
  });

  it('validates IBAN check digits (mod 97)', () => {
    expect(validIban('DE89 3704 0044 0532 0130 00')).toBe(true);
    expect(validIban('DE88 3704 0044 0532 0130 00')).toBe(false);
  });

  it('finds e-mail, phone and IBAN PII', () => {
    const found = pii('Kontakt: max.mustermann@example.de, Tel. +49 30 1234567, IBAN DE89 3704 0044 0532 0130 00.');
    expect(found).toEqual({ emails: 1, phones: 1, ibans: 1 });
    expect(pii(german)).toEqual({ emails: 0, phones: 0, ibans: 0 });
  });

  it('measures repetition and boilerplate', () => {
    const spam = Array.from({ length: 10 }, () => 'Jetzt kaufen und sparen').join('\n') + '\nAlle Rechte vorbehalten';
    const r = repetition(spam);
    expect(r.duplicate_line_ratio).toBeGreaterThan(0.8);
    expect(r.boilerplate_ratio).toBeGreaterThan(0);
    expect(repetition(german).duplicate_line_ratio).toBe(0);
  });

  it('scores clean prose above spam and stores every signal', () => {
    const good = scoreQuality(german, 40, undefined, DEFAULT_QUALITY_RULES);
    const bad = scoreQuality(Array(30).fill('kaufen kaufen kaufen').join('\n'), 90, undefined, DEFAULT_QUALITY_RULES);
    expect(good.score).toBeGreaterThan(bad.score);
    expect(Object.keys(good.signals).sort()).toEqual(['language', 'length', 'near_duplicate', 'pii', 'readability', 'repetition']);
  });
});

describe('MinHash', () => {
  it('estimates Jaccard similarity close to the exact value', () => {
    const a = Array.from({ length: 300 }, (_, i) => `wort${i}`).join(' ');
    const b = Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? `anders${i}` : `wort${i}`)).join(' ');
    const sa = shingles(a);
    const sb = shingles(b);
    const exact = [...sa].filter((s) => sb.has(s)).length / new Set([...sa, ...sb]).size;
    expect(Math.abs(estimatedJaccard(minhash(a), minhash(b)) - exact)).toBeLessThan(0.15);
    expect(estimatedJaccard(minhash(a), minhash(a))).toBe(1);
  });
});
