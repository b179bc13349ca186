/**
 * Token-aware chunking with overlap: windows of at most `maxTokens` tokens that step by
 * `maxTokens - overlapTokens`, preferring to end a window at a sentence or paragraph boundary
 * found in its last quarter so chunks do not stop mid-sentence.
 */
import type { TokenCounter } from './tokens.js';

export interface ChunkOptions {
  maxTokens: number;
  overlapTokens: number;
}

export interface TextChunk {
  seq: number;
  content: string;
  tokenCount: number;
  start: number;
  end: number;
}

export function chunkText(text: string, counter: TokenCounter, options: ChunkOptions): TextChunk[] {
  const { maxTokens, overlapTokens } = options;
  if (maxTokens < 1) throw new RangeError('maxTokens must be >= 1');
  if (overlapTokens < 0 || overlapTokens >= maxTokens) throw new RangeError('overlapTokens must be in [0, maxTokens)');
  const spans = counter.spans(text);
  if (spans.length === 0) return [];
  const chunks: TextChunk[] = [];
  let first = 0;
  while (first < spans.length) {
    let last = Math.min(first + maxTokens, spans.length) - 1;
    if (last < spans.length - 1) last = sentenceEnd(text, spans, first, last, maxTokens);
    const start = spans[first].start;
    const end = spans[last].end;
    chunks.push({ seq: chunks.length, content: text.slice(start, end), tokenCount: last - first + 1, start, end });
    if (last >= spans.length - 1) break;
    // step forward, keeping `overlapTokens` tokens of context, but always make progress
    first = Math.max(last + 1 - overlapTokens, first + 1);
  }
  return chunks;
}

function sentenceEnd(text: string, spans: { start: number; end: number }[], first: number, last: number, maxTokens: number): number {
  const earliest = first + Math.floor((maxTokens * 3) / 4);
  for (let i = last; i > earliest; i--) {
    const token = text.slice(spans[i].start, spans[i].end);
    const gap = text.slice(spans[i].end, spans[i + 1]?.start ?? spans[i].end);
    if (/[.!?;:]$/.test(token) || gap.includes('\n\n')) return i;
  }
  return last;
}
