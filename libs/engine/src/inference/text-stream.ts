/**
 * Turns generated token ids into text as they arrive, incrementally (the prefix/read-offset scheme of HF TGI and
 * vLLM: each step decodes only the last few tokens, so the cost per token stays constant), holds back a trailing
 * incomplete UTF-8 character and any tail that could still become a stop sequence, and cuts the text at the first
 * stop sequence.
 */

/** What TextStream needs of a tokenizer (io/tokenizer.ts TextTokenizer fits). */
export interface Detokenizer {
  decode(ids: number[], skipSpecialTokens?: boolean): string;
}

export class TextStream {
  private readonly ids: number[] = [];
  private emitted = 0;
  private text = '';
  /** Decoding window: ids[prefixOffset:readOffset] is already part of `text`. */
  private prefixOffset = 0;
  private readOffset = 0;
  /** Text of an incomplete trailing character sequence (shown only at the end). */
  private pending = '';
  /** Character offset in the completion where each token's text starts. */
  readonly offsets: number[] = [];
  stopped = false;

  constructor(
    private readonly tokenizer: Detokenizer,
    private readonly stops: string[],
  ) {}

  /** Adds one token; returns the text that is now safe to emit (maybe ''). Sets `stopped` when a stop sequence matched. */
  push(id: number): string {
    this.offsets.push(this.text.length);
    this.ids.push(id);
    const before = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const now = this.decode(this.ids.slice(this.prefixOffset));
    if (now.length > before.length && !now.endsWith('\uFFFD')) {
      this.text += now.slice(before.length);
      this.pending = '';
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
    } else {
      this.pending = now.slice(before.length);
    }
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop, Math.max(0, this.emitted - stop.length + 1));
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.text = this.text.slice(0, cut);
      return this.take(this.text.length);
    }
    return this.take(this.text.length - this.heldBack());
  }

  /** Whatever is still held back (end of generation without a stop), an incomplete last character included. */
  flush(): string {
    if (!this.stopped) {
      this.text += this.pending;
      this.pending = '';
    }
    return this.take(this.text.length);
  }

  private decode(ids: number[]): string {
    return ids.length === 0 ? '' : this.tokenizer.decode(ids, true);
  }

  get completion(): string {
    return this.text;
  }

  private take(upTo: number): string {
    if (upTo <= this.emitted) return '';
    const out = this.text.slice(this.emitted, upTo);
    this.emitted = upTo;
    return out;
  }

  /** Length of the longest tail of the text that is a proper prefix of a stop sequence. */
  private heldBack(): number {
    let hold = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.text.length); n > hold; n--) {
        if (this.text.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    return Math.min(hold, this.text.length - this.emitted);
  }
}
