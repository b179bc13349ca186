import { describe, expect, it } from 'vitest';
import { parseChatRequest, parseCompletionRequest, parseLoadAdapter } from './requests.js';

function paramOf(fn: () => unknown): string | null | undefined {
  try {
    fn();
  } catch (err) {
    expect((err as { status: number }).status).toBe(400);
    return (err as { param: string | null }).param;
  }
  throw new Error('expected a 400');
}

describe('request validation', () => {
  it('accepts the OpenAI forms of prompt and fills defaults', () => {
    const r = parseCompletionRequest({ model: 'm', prompt: ['a', [1, 2]], stop: 'x', seed: 7, top_k: 0 });
    expect(r).toMatchObject({ prompts: ['a', [1, 2]], maxTokens: 16, n: 1, stop: ['x'], logprobs: null, sampling: { temperature: 1, topP: 1, topK: -1, seed: 7 } });
    expect(parseCompletionRequest({ model: 'm', prompt: [5, 6] }).prompts).toEqual([[5, 6]]);
    const c = parseChatRequest({ model: 'm', messages: [{ role: 'developer', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }], max_completion_tokens: 9, logprobs: true, top_logprobs: 2 });
    expect(c).toMatchObject({ messages: [{ role: 'system', content: 'ab' }], maxTokens: 9, logprobs: true, topLogprobs: 2 });
    expect(parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).maxTokens).toBeUndefined();
  });

  it('names the offending field', () => {
    expect(paramOf(() => parseCompletionRequest(null))).toBe('body');
    expect(paramOf(() => parseCompletionRequest({ prompt: 'x' }))).toBe('model');
    expect(paramOf(() => parseCompletionRequest({ model: 'm' }))).toBe('prompt');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: [1.5] }))).toBe('prompt');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', max_tokens: -1 }))).toBe('max_tokens');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', temperature: 3 }))).toBe('temperature');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', top_p: 0 }))).toBe('top_p');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', n: 0 }))).toBe('n');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', stop: [''] }))).toBe('stop');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', logprobs: 21 }))).toBe('logprobs');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', presence_penalty: 2.5 }))).toBe('presence_penalty');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', frequency_penalty: 'lots' }))).toBe('frequency_penalty');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', suffix: 'y' }))).toBe('suffix');
    expect(paramOf(() => parseCompletionRequest({ model: 'm', prompt: 'x', stream_options: { include_usage: true } }))).toBe('stream_options');
    expect(paramOf(() => parseChatRequest({ model: 'm', messages: [{ role: 'robot', content: 'x' }] }))).toBe('messages[0].role');
    expect(paramOf(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 3 }] }))).toBe('messages[0].content');
    expect(paramOf(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }))).toBe('top_logprobs');
    expect(paramOf(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: [{}] }))).toBe('tools');
    expect(paramOf(() => parseLoadAdapter({ lora_name: 'a b', lora_path: '/x' }))).toBe('lora_name');
    expect(paramOf(() => parseLoadAdapter({ lora_name: 'ab' }))).toBe('lora_path');
  });
});
