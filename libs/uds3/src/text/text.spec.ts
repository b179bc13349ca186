import { describe, expect, it } from 'vitest';
import { chunkText } from './chunker.js';
import { extractCitations, extractKeywords } from './entities.js';
import { RegexTokenCounter } from './tokens.js';

const counter = new RegexTokenCounter();

describe('chunkText', () => {
  const text = Array.from({ length: 60 }, (_, i) => `Satz ${i} handelt von Photovoltaik auf dem Dach.`).join(' ');

  it('keeps every window within maxTokens and overlaps consecutive windows', () => {
    const chunks = chunkText(text, counter, { maxTokens: 40, overlapTokens: 8 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(counter.count(c.content)).toBeLessThanOrEqual(40);
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i].start).toBeLessThan(chunks[i - 1].end); // overlap
      expect(chunks[i].start).toBeGreaterThan(chunks[i - 1].start); // progress
    }
    expect(chunks.at(-1)!.end).toBe(text.length);
  });

  it('ends windows at sentence boundaries when one is near', () => {
    const chunks = chunkText(text, counter, { maxTokens: 40, overlapTokens: 0 });
    for (const c of chunks.slice(0, -1)) expect(c.content.endsWith('.')).toBe(true);
  });

  it('rejects an overlap as large as the window', () => {
    expect(() => chunkText(text, counter, { maxTokens: 10, overlapTokens: 10 })).toThrow(RangeError);
  });
});

describe('entities', () => {
  it('normalises German legal citations and keeps the law code', () => {
    const found = extractCitations('Nach §35 Abs. 1 Nr. 8 BauGB und § 35 BauGB sowie Art. 14 Abs. 1 GG und §§ 48, 49 VwVfG ist ...');
    expect(found.map((c) => c.key).sort()).toEqual(['Art. 14 GG', '§ 35 BauGB', '§ 48 VwVfG'].sort());
    expect(found.find((c) => c.key === 'Art. 14 GG')!.law).toBe('GG');
  });

  it('picks frequent content words, not stop-words', () => {
    expect(extractKeywords('Die Photovoltaik auf dem Dach. Photovoltaik ist gut, die Anlage auch.', 2)).toEqual(['photovoltaik', 'anlage']);
  });
});
