/**
 * Validation of OpenAI request bodies. Every problem is a 400 naming the field (OpenAI's `param`); fields OpenAI
 * defines that this server cannot honour are rejected rather than silently ignored.
 */
import type { SamplingParams } from '@clara/engine/inference/index';
import { badRequest } from './openai-errors.js';

type Body = Record<string, unknown>;

export interface CommonParams {
  model: string;
  n: number;
  stream: boolean;
  includeUsage: boolean;
  maxTokens?: number;
  sampling: SamplingParams;
  stop: string[];
  ignoreEos: boolean;
}

export interface CompletionRequest extends CommonParams {
  /** Each prompt as text or token ids. */
  prompts: (string | number[])[];
  logprobs: number | null;
  echo: boolean;
}

export interface ChatMessageIn {
  role: string;
  content: string;
}

export interface ChatRequest extends CommonParams {
  messages: ChatMessageIn[];
  logprobs: boolean;
  topLogprobs: number;
}

function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optNumber(b: Body, key: string, def: number, min: number, max: number, integer = false): number {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw badRequest(key, `'${key}' must be ${integer ? 'an integer' : 'a number'}`);
  }
  if (v < min || v > max) throw badRequest(key, `'${key}' must be between ${min} and ${max}, got ${v}`);
  return v;
}

function optBool(b: Body, key: string, def: boolean): boolean {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw badRequest(key, `'${key}' must be a boolean`);
  return v;
}

function unsupported(b: Body, key: string, allowed: (v: unknown) => boolean): void {
  if (b[key] !== undefined && b[key] !== null && !allowed(b[key])) throw badRequest(key, `'${key}' is not supported by this server`);
}

function common(b: Body, maxTokensKeys: string[]): CommonParams {
  if (typeof b.model !== 'string' || b.model.trim() === '') throw badRequest('model', "'model' is required and must be a string");
  let maxTokens: number | undefined;
  for (const key of maxTokensKeys) {
    if (b[key] !== undefined && b[key] !== null) maxTokens = optNumber(b, key, 16, 1, Number.MAX_SAFE_INTEGER, true);
  }
  const stopRaw = b.stop;
  let stop: string[] = [];
  if (typeof stopRaw === 'string') stop = [stopRaw];
  else if (Array.isArray(stopRaw)) {
    if (!stopRaw.every((s) => typeof s === 'string' && s.length > 0)) throw badRequest('stop', "'stop' must be a non-empty string or a list of them");
    if (stopRaw.length > 16) throw badRequest('stop', "'stop' takes at most 16 sequences");
    stop = stopRaw as string[];
  } else if (stopRaw !== undefined && stopRaw !== null) throw badRequest('stop', "'stop' must be a string or a list of strings");
  if (stop.some((s) => s.length === 0)) throw badRequest('stop', "'stop' sequences must not be empty");
  const seedRaw = b.seed;
  const seed = seedRaw === undefined || seedRaw === null ? undefined : optNumber(b, 'seed', 0, -(2 ** 63), 2 ** 63, true);
  const streamOptions = b.stream_options;
  if (streamOptions !== undefined && streamOptions !== null && !isObject(streamOptions)) throw badRequest('stream_options', "'stream_options' must be an object");
  const stream = optBool(b, 'stream', false);
  const includeUsage = isObject(streamOptions) ? optBool(streamOptions, 'include_usage', false) : false;
  if (isObject(streamOptions) && !stream) throw badRequest('stream_options', "'stream_options' is only allowed when 'stream' is true");
  unsupported(b, 'logit_bias', (v) => isObject(v) && Object.keys(v).length === 0);
  const topK = optNumber(b, 'top_k', -1, -1, Number.MAX_SAFE_INTEGER, true);
  return {
    model: b.model,
    n: optNumber(b, 'n', 1, 1, 16, true),
    stream,
    includeUsage,
    maxTokens,
    sampling: {
      temperature: optNumber(b, 'temperature', 1, 0, 2),
      topP: optNumber(b, 'top_p', 1, Number.MIN_VALUE, 1),
      topK: topK === 0 ? -1 : topK,
      seed: seed === undefined ? undefined : Number(BigInt.asUintN(32, BigInt(seed))),
      presencePenalty: optNumber(b, 'presence_penalty', 0, -2, 2),
      frequencyPenalty: optNumber(b, 'frequency_penalty', 0, -2, 2),
    },
    stop,
    ignoreEos: optBool(b, 'ignore_eos', false),
  };
}

export function parseCompletionRequest(body: unknown): CompletionRequest {
  if (!isObject(body)) throw badRequest('body', 'request body must be a JSON object');
  const c = common(body, ['max_tokens']);
  const p = body.prompt;
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && (x as number) >= 0);
  let prompts: (string | number[])[];
  if (typeof p === 'string') prompts = [p];
  else if (isIds(p)) prompts = [p];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string' || isIds(x))) prompts = p as (string | number[])[];
  else throw badRequest('prompt', "'prompt' must be a string, a list of strings, a list of token ids or a list of such lists");
  if (prompts.length * c.n > 64) throw badRequest('prompt', 'at most 64 choices (prompts × n) per request');
  const logprobs = body.logprobs === undefined || body.logprobs === null ? null : optNumber(body, 'logprobs', 0, 0, 20, true);
  const echo = optBool(body, 'echo', false);
  if (echo && logprobs !== null) throw badRequest('echo', "'echo' together with 'logprobs' is not supported (no prompt logprobs)");
  unsupported(body, 'suffix', () => false);
  unsupported(body, 'best_of', (v) => v === 1 || v === c.n);
  return { ...c, maxTokens: c.maxTokens ?? 16, prompts, logprobs, echo };
}

export function parseChatRequest(body: unknown): ChatRequest {
  if (!isObject(body)) throw badRequest('body', 'request body must be a JSON object');
  const c = common(body, ['max_tokens', 'max_completion_tokens']);
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest('messages', "'messages' must be a non-empty list");
  const messages = raw.map((m, i): ChatMessageIn => {
    if (!isObject(m)) throw badRequest(`messages[${i}]`, `'messages[${i}]' must be an object`);
    if (typeof m.role !== 'string' || !['system', 'user', 'assistant', 'developer'].includes(m.role)) {
      throw badRequest(`messages[${i}].role`, `'messages[${i}].role' must be one of system, developer, user, assistant`);
    }
    let content: string;
    if (typeof m.content === 'string') content = m.content;
    else if (Array.isArray(m.content) && m.content.every((part) => isObject(part) && part.type === 'text' && typeof part.text === 'string')) {
      content = (m.content as { text: string }[]).map((part) => part.text).join('');
    } else throw badRequest(`messages[${i}].content`, `'messages[${i}].content' must be a string or a list of text parts`);
    return { role: m.role === 'developer' ? 'system' : m.role, content };
  });
  const logprobs = optBool(body, 'logprobs', false);
  const topLogprobs = optNumber(body, 'top_logprobs', 0, 0, 20, true);
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && !logprobs) {
    throw badRequest('top_logprobs', "'top_logprobs' requires 'logprobs' to be true");
  }
  unsupported(body, 'tools', (v) => Array.isArray(v) && v.length === 0);
  unsupported(body, 'response_format', (v) => isObject(v) && v.type === 'text');
  return { ...c, messages, logprobs, topLogprobs };
}

export function parseLoadAdapter(body: unknown): { name: string; path: string; pinned: boolean; version?: string } {
  if (!isObject(body)) throw badRequest('body', 'request body must be a JSON object');
  if (typeof body.lora_name !== 'string' || !/^[\w.:@/-]{1,200}$/.test(body.lora_name)) {
    throw badRequest('lora_name', "'lora_name' is required: letters, digits and . _ - : / (at most 200)");
  }
  if (typeof body.lora_path !== 'string' || body.lora_path.trim() === '') throw badRequest('lora_path', "'lora_path' is required");
  if (body.version !== undefined && typeof body.version !== 'string') throw badRequest('version', "'version' must be a string");
  return { name: body.lora_name, path: body.lora_path, pinned: optBool(body, 'pinned', false), version: body.version as string | undefined };
}

export function parseUnloadAdapter(body: unknown): { name: string } {
  if (!isObject(body)) throw badRequest('body', 'request body must be a JSON object');
  if (typeof body.lora_name !== 'string' || body.lora_name === '') throw badRequest('lora_name', "'lora_name' is required");
  return { name: body.lora_name };
}
