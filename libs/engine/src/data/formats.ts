import type { ChatMessage, TextTokenizer } from '../io/tokenizer.js';

/** One training example. NOT shifted: labels align with inputIds (-100 = ignored); the loss shifts. */
export interface Example {
  inputIds: number[];
  labels: number[];
}

export const IGNORE_INDEX = -100;

export type RecordFormat = 'chat' | 'alpaca' | 'text' | 'tokens';

export type DataRecord =
  | { format: 'chat'; messages: ChatMessage[] }
  | { format: 'alpaca'; instruction: string; input: string; output: string }
  | { format: 'text'; text: string }
  | { format: 'tokens'; inputIds: number[]; labels?: number[] };

export class DataFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file} line ${line}: ${message}`);
    this.name = 'DataFormatError';
  }
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x));
}

/** Validates one parsed JSONL object and says which format it is; throws a message for the caller to locate. */
export function parseRecord(obj: unknown): DataRecord {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('expected a JSON object');
  const o = obj as Record<string, unknown>;
  if ('messages' in o) {
    if (!Array.isArray(o.messages) || o.messages.length === 0) throw new Error('"messages" must be a non-empty array');
    const messages = o.messages.map((m, i) => {
      const mm = m as Record<string, unknown>;
      if (!mm || typeof mm.role !== 'string' || !ROLES.has(mm.role)) throw new Error(`messages[${i}].role must be one of ${[...ROLES].join(', ')}`);
      if (typeof mm.content !== 'string') throw new Error(`messages[${i}].content must be a string`);
      return { role: mm.role, content: mm.content };
    });
    if (!messages.some((m) => m.role === 'assistant')) throw new Error('a chat record needs at least one assistant message');
    return { format: 'chat', messages };
  }
  if ('instruction' in o || 'output' in o) {
    if (typeof o.instruction !== 'string') throw new Error('"instruction" must be a string');
    if (typeof o.output !== 'string') throw new Error('"output" must be a string');
    if (o.input != null && typeof o.input !== 'string') throw new Error('"input" must be a string');
    return { format: 'alpaca', instruction: o.instruction, input: (o.input as string | undefined) ?? '', output: o.output };
  }
  if ('text' in o) {
    if (typeof o.text !== 'string' || o.text.length === 0) throw new Error('"text" must be a non-empty string');
    return { format: 'text', text: o.text };
  }
  if ('input_ids' in o) {
    if (!isIntArray(o.input_ids) || o.input_ids.length === 0 || o.input_ids.some((x) => x < 0)) {
      throw new Error('"input_ids" must be a non-empty array of non-negative integers');
    }
    if (o.labels != null) {
      if (!isIntArray(o.labels)) throw new Error('"labels" must be an array of integers');
      if (o.labels.length !== o.input_ids.length) throw new Error(`"labels" has ${o.labels.length} entries, "input_ids" ${o.input_ids.length}`);
      if (o.labels.some((x) => x < 0 && x !== IGNORE_INDEX)) throw new Error('"labels" may only hold token ids or -100');
    }
    return { format: 'tokens', inputIds: o.input_ids, labels: (o.labels as number[] | undefined) ?? undefined };
  }
  throw new Error('unknown record format: expected "messages", "instruction"/"output", "text" or "input_ids"');
}

export function alpacaPrompt(instruction: string, input: string): string {
  return input
    ? 'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        `Write a response that appropriately completes the request.\n\n### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
    : 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        `### Instruction:\n${instruction}\n\n### Response:\n`;
}

/** Tokenizes a record: loss on assistant turns (chat), on the output (alpaca), on everything (text). */
export function tokenizeRecord(rec: DataRecord, tok: TextTokenizer | undefined, vocabSize?: number): Example {
  if (rec.format === 'tokens') {
    if (vocabSize !== undefined && rec.inputIds.some((x) => x >= vocabSize)) throw new Error(`"input_ids" holds a token id >= vocab size ${vocabSize}`);
    if (vocabSize !== undefined && rec.labels?.some((x) => x >= vocabSize)) throw new Error(`"labels" holds a token id >= vocab size ${vocabSize}`);
    return { inputIds: [...rec.inputIds], labels: rec.labels ? [...rec.labels] : [...rec.inputIds] };
  }
  if (!tok) throw new Error(`a ${rec.format} record needs the model's tokenizer`);
  const eos = tok.eosId !== undefined ? [tok.eosId] : [];
  const inputIds: number[] = [];
  const labels: number[] = [];
  const add = (ids: number[], train: boolean) => {
    inputIds.push(...ids);
    for (const id of ids) labels.push(train ? id : IGNORE_INDEX);
  };
  switch (rec.format) {
    case 'chat': {
      if (!tok.hasChatTemplate) throw new Error('chat records need a chat_template in the model\'s tokenizer_config.json');
      // Template output already carries BOS/EOS as text; tokenize without adding special tokens again.
      for (const seg of tok.chatSegments(rec.messages)) add(tok.encode(seg.text, false), seg.train);
      break;
    }
    case 'alpaca':
      add(tok.encode(alpacaPrompt(rec.instruction, rec.input), true), false);
      add([...tok.encode(rec.output, false), ...eos], true);
      break;
    case 'text':
      add([...tok.encode(rec.text, true), ...eos], true);
      break;
  }
  return { inputIds, labels };
}
