/**
 * Token counting and token-aware splitting. The default counter splits on Unicode words and punctuation
 * (named `regex-words`, no model needed); a Hugging Face `tokenizer.json` can be configured instead so that
 * chunk sizes match the model that will be trained.
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';

/** A token with its character span in the source text, so chunks can be cut from the original string. */
export interface TokenSpan {
  start: number;
  end: number;
}

export interface TokenCounter {
  readonly name: string;
  count(text: string): number;
  /** Character spans of the tokens, in order. */
  spans(text: string): TokenSpan[];
}

const WORD_OR_MARK = /[\p{L}\p{N}]+(?:[.'’-][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu;

export class RegexTokenCounter implements TokenCounter {
  readonly name = 'regex-words';
  count(text: string): number {
    let n = 0;
    WORD_OR_MARK.lastIndex = 0;
    while (WORD_OR_MARK.exec(text)) n++;
    return n;
  }
  spans(text: string): TokenSpan[] {
    const out: TokenSpan[] = [];
    for (const m of text.matchAll(WORD_OR_MARK)) out.push({ start: m.index!, end: m.index! + m[0].length });
    return out;
  }
}

/** Counts with a Hugging Face tokenizer; spans are found by locating each decoded token in the text. */
export class HfTokenCounter implements TokenCounter {
  constructor(
    readonly name: string,
    private readonly tokenizer: Tokenizer,
  ) {}

  static async fromFile(path: string): Promise<HfTokenCounter> {
    const json = JSON.parse(await readFile(path, 'utf8'));
    let config: object = {};
    try {
      config = JSON.parse(await readFile(path.replace(/tokenizer\.json$/, 'tokenizer_config.json'), 'utf8'));
    } catch {
      // tokenizer_config.json is optional
    }
    return new HfTokenCounter(`hf:${path}`, new Tokenizer(json, config));
  }

  count(text: string): number {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids.length;
  }

  spans(text: string): TokenSpan[] {
    const { ids, tokens } = this.tokenizer.encode(text, { add_special_tokens: false });
    const out: TokenSpan[] = [];
    let cursor = 0;
    for (const [i, id] of ids.entries()) {
      // out-of-vocabulary ids come back undefined from tokenizers.js: fall back to the token text
      const piece = (id === undefined ? tokens[i] : this.tokenizer.decode([id], { skip_special_tokens: true })).trim();
      const at = piece ? text.indexOf(piece, cursor) : -1;
      const start = at >= 0 ? at : cursor;
      const end = at >= 0 ? at + piece.length : cursor;
      out.push({ start, end });
      cursor = end;
    }
    return out;
  }
}

/** Lower-cased word tokens (letters/digits), used by the embedder, keywords and quality signals. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) as string[];
}
