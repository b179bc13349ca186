import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: string;
  content: string;
}

/** A piece of rendered chat text and whether the loss is computed on it. */
export interface ChatSegment {
  text: string;
  train: boolean;
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * A checkpoint's tokenizer: tokenizer.json through @huggingface/tokenizers, the chat template from
 * tokenizer_config.json rendered with @huggingface/jinja (the libraries transformers.js itself uses).
 */
export class TextTokenizer {
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId: number;
  readonly vocabSize: number;
  private readonly template?: Template;

  constructor(
    private readonly tok: Tokenizer,
    readonly config: Record<string, unknown>,
  ) {
    this.bosToken = tokenString(config.bos_token);
    this.eosToken = tokenString(config.eos_token);
    this.bosId = this.bosToken !== undefined ? tok.token_to_id(this.bosToken) : undefined;
    this.eosId = this.eosToken !== undefined ? tok.token_to_id(this.eosToken) : undefined;
    const padToken = tokenString(config.pad_token);
    this.padId = (padToken !== undefined ? tok.token_to_id(padToken) : undefined) ?? this.eosId ?? 0;
    this.vocabSize = tok.get_vocab(true).size;
    let chat = config.chat_template;
    if (Array.isArray(chat)) chat = (chat.find((t: { name?: string }) => t.name === 'default') as { template?: string } | undefined)?.template;
    if (typeof chat === 'string') this.template = new Template(chat);
  }

  static async load(dir: string): Promise<TextTokenizer> {
    let json: object;
    try {
      json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8'));
    } catch (err) {
      throw new Error(`${dir}: cannot read tokenizer.json (${(err as Error).message})`);
    }
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${dir}: bad tokenizer_config.json (${(err as Error).message})`);
    }
    return new TextTokenizer(new Tokenizer(json, config), config);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** Token ids; `addSpecialTokens` applies the tokenizer's post-processor (e.g. Llama's BOS). */
  encode(text: string, addSpecialTokens = false): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: number[], skipSpecialTokens = false): string {
    return this.tok.decode(ids, { skip_special_tokens: skipSpecialTokens });
  }

  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = false): string {
    if (!this.template) throw new Error('this tokenizer has no chat_template in tokenizer_config.json');
    return this.template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: this.bosToken ?? '',
      eos_token: this.eosToken ?? '',
      pad_token: tokenString(this.config.pad_token) ?? '',
      unk_token: tokenString(this.config.unk_token) ?? '',
    });
  }

  /**
   * Splits a rendered conversation into prompt and assistant pieces by rendering growing prefixes
   * (the template must be prefix-stable, as chat templates are): assistant replies (with their end token) train,
   * everything else (system/user turns, role headers) is masked.
   */
  chatSegments(messages: ChatMessage[]): ChatSegment[] {
    const segments: ChatSegment[] = [];
    let prev = '';
    const take = (text: string, train: boolean, what: string) => {
      if (!text.startsWith(prev)) throw new Error(`chat template is not prefix-stable at ${what}; cannot mask the prompt`);
      const piece = text.slice(prev.length);
      if (piece) segments.push({ text: piece, train });
      prev = text;
    };
    for (let i = 0; i < messages.length; i++) {
      if (messages[i]!.role === 'assistant') {
        take(this.applyChatTemplate(messages.slice(0, i), true), false, `message ${i}`);
        take(this.applyChatTemplate(messages.slice(0, i + 1), false), true, `message ${i}`);
      } else {
        take(this.applyChatTemplate(messages.slice(0, i + 1), false), false, `message ${i}`);
      }
    }
    return segments;
  }
}
