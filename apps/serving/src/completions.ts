/**
 * Runs OpenAI completions and chat completions on the ServingEngine: tokenizes, checks the context, starts one
 * generation per choice (prompts × n), and either collects the choices or streams them as server-sent events.
 * A client that goes away cancels its generations at once (their batch rows are freed before the next step).
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { CompletionHandle, FinishReason, ServingEngine, TokenText } from '@clara/engine/inference/index';
import { badRequest, OpenAIError } from './openai-errors.js';
import type { ServingMetrics } from './metrics.js';
import type { ChatRequest, CommonParams, CompletionRequest } from './requests.js';

interface ChoiceSpec {
  index: number;
  promptIds: number[];
  promptText?: string;
  seedOffset: number;
}

interface ChoiceState {
  text: string;
  tokens: TokenText[];
  finish?: FinishReason;
  completionTokens: number;
}

type Kind = 'completion' | 'chat';

const now = () => Math.floor(Date.now() / 1000);

export class CompletionRunner {
  constructor(
    private readonly engine: ServingEngine,
    private readonly metrics: ServingMetrics,
    /** Requests allowed to wait for a batch row before new ones get 503. */
    private readonly maxWaiting = Number.POSITIVE_INFINITY,
  ) {}

  private checkContext(promptIds: number[], maxTokens: number | undefined, param: string): number {
    const ctx = this.engine.contextLength;
    const vocab = this.engine.config.vocabSize;
    if (promptIds.some((id) => id >= vocab)) throw badRequest(param, `'${param}' contains token ids outside the vocabulary (0..${vocab - 1})`);
    if (promptIds.length === 0) throw badRequest(param, `'${param}' is empty`);
    const max = maxTokens ?? ctx - promptIds.length;
    if (promptIds.length + max > ctx || max < 1) {
      throw new OpenAIError(
        400,
        `This model's maximum context length is ${ctx} tokens. However, you requested ${promptIds.length + max} tokens (${promptIds.length} in the prompt, ${max} in the completion). Please reduce the length of the prompt or max_tokens.`,
        maxTokens === undefined ? param : 'max_tokens',
        'context_length_exceeded',
      );
    }
    return max;
  }

  async completion(req: CompletionRequest, http: Request, res: Response): Promise<void> {
    const specs: ChoiceSpec[] = [];
    const maxTokens: number[] = [];
    req.prompts.forEach((p, pi) => {
      const ids = typeof p === 'string' ? this.engine.tokenizer.encode(p, true) : p;
      const max = this.checkContext(ids, req.maxTokens, 'prompt');
      for (let j = 0; j < req.n; j++) {
        specs.push({ index: pi * req.n + j, promptIds: ids, promptText: req.echo ? (typeof p === 'string' ? p : this.engine.tokenizer.decode(p)) : undefined, seedOffset: j });
        maxTokens.push(max);
      }
    });
    await this.run('completion', req, specs, maxTokens, req.logprobs, http, res);
  }

  async chat(req: ChatRequest, http: Request, res: Response): Promise<void> {
    const tok = this.engine.tokenizer;
    if (!tok.hasChatTemplate) throw badRequest('messages', 'this model has no chat template (tokenizer_config.json chat_template)');
    const text = tok.applyChatTemplate(req.messages, true);
    const ids = tok.encode(text, false);
    const max = this.checkContext(ids, req.maxTokens, 'messages');
    const specs = Array.from({ length: req.n }, (_, j) => ({ index: j, promptIds: ids, seedOffset: j }));
    await this.run('chat', req, specs, specs.map(() => max), req.logprobs ? req.topLogprobs : null, http, res);
  }

  private async run(kind: Kind, req: CommonParams, specs: ChoiceSpec[], maxTokens: number[], logprobs: number | null, http: Request, res: Response): Promise<void> {
    if (this.engine.batcher.queueDepth + specs.length > this.maxWaiting) {
      throw new OpenAIError(503, 'the server is overloaded (too many queued requests); retry later', null, 'overloaded', 'server_error');
    }
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
    const created = now();
    const started = performance.now();
    const states: ChoiceState[] = specs.map(() => ({ text: '', tokens: [], completionTokens: 0 }));
    const handles: CompletionHandle[] = [];
    let gone = false;
    const lastTokenAt: number[] = specs.map(() => 0);
    const model = req.model;
    const sse = (obj: unknown) => {
      if (!gone) res.write(`data: ${JSON.stringify(obj)}\n\n`);
    };
    const chunkBase = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model };

    res.on('close', () => {
      if (states.every((s) => s.finish)) return;
      gone = true;
      for (const h of handles) h.cancel();
      this.metrics.aborted.inc({ model });
    });

    if (req.stream) {
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache');
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      for (const s of specs) {
        if (kind === 'chat') sse({ ...chunkBase, choices: [{ index: s.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
        else if (s.promptText) sse({ ...chunkBase, choices: [{ index: s.index, text: s.promptText, logprobs: null, finish_reason: null }] });
      }
    }

    const done = new Promise<void>((resolve, reject) => {
      let remaining = specs.length;
      let failed: Error | undefined;
      const settle = () => {
        if (--remaining > 0) return;
        if (failed) reject(failed);
        else resolve();
      };
      specs.forEach((spec, k) => {
        const state = states[k]!;
        const sampling = { ...req.sampling, seed: req.sampling.seed === undefined ? undefined : (req.sampling.seed + spec.seedOffset) >>> 0 };
        this.engine
          .generate(
            { model, promptIds: spec.promptIds, maxTokens: maxTokens[k]!, sampling, stop: req.stop, logprobs, ignoreEos: req.ignoreEos },
            {
              onToken: (text, token) => {
                const t = performance.now();
                if (token) {
                  state.completionTokens++;
                  if (lastTokenAt[k]) this.metrics.interToken.observe({ model }, (t - lastTokenAt[k]!) / 1000);
                  else this.metrics.ttft.observe({ model }, (t - started) / 1000);
                  lastTokenAt[k] = t;
                  if (logprobs !== null) state.tokens.push(token);
                }
                state.text += text;
                if (!req.stream || (!text && !(token && logprobs !== null))) return;
                const lp = token && logprobs !== null ? this.logprobsOf(kind, [token], logprobs, spec.promptText?.length ?? 0) : null;
                sse({ ...chunkBase, choices: [kind === 'chat' ? { index: spec.index, delta: { content: text }, logprobs: lp, finish_reason: null } : { index: spec.index, text, logprobs: lp, finish_reason: null }] });
              },
              onFinish: (reason, usage) => {
                state.finish = reason;
                this.metrics.promptTokens.inc({ model }, usage.promptTokens);
                this.metrics.generationTokens.inc({ model }, usage.completionTokens);
                if (req.stream && reason !== 'abort') {
                  sse({ ...chunkBase, choices: [kind === 'chat' ? { index: spec.index, delta: {}, logprobs: null, finish_reason: reason } : { index: spec.index, text: '', logprobs: null, finish_reason: reason }] });
                }
                settle();
              },
              onError: (err) => {
                state.finish = 'abort';
                failed ??= err;
                settle();
              },
            },
          )
          .then((h) => {
            handles.push(h);
            if (gone) h.cancel();
          })
          .catch((err: Error) => {
            state.finish = 'abort';
            failed ??= err;
            settle();
          });
      });
    });

    try {
      await done;
    } catch (err) {
      if (gone) return;
      throw err;
    }
    if (gone) return;
    const promptTokens = [...new Set(specs.map((s) => s.promptIds))].reduce((n, ids) => n + ids.length, 0);
    const completionTokens = states.reduce((n, s) => n + s.completionTokens, 0);
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    if (req.stream) {
      if (req.includeUsage) sse({ ...chunkBase, choices: [], usage });
      res.write('data: [DONE]\n\n');
      res.end();
      return;
    }
    const choices = specs.map((spec, k) => {
      const s = states[k]!;
      const lp = logprobs !== null ? this.logprobsOf(kind, s.tokens, logprobs, spec.promptText?.length ?? 0) : null;
      return kind === 'chat'
        ? { index: spec.index, message: { role: 'assistant', content: s.text }, logprobs: lp, finish_reason: s.finish }
        : { index: spec.index, text: (spec.promptText ?? '') + s.text, logprobs: lp, finish_reason: s.finish };
    });
    res.status(200).json({ id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model, choices, usage });
  }

  /** Legacy completions: {tokens, token_logprobs, top_logprobs, text_offset}; chat: {content: [{token, logprob, bytes, top_logprobs}]}. */
  private logprobsOf(kind: Kind, tokens: TokenText[], n: number, offsetBase: number): unknown {
    if (kind === 'chat') {
      const bytes = (s: string) => [...Buffer.from(s, 'utf8')];
      return {
        content: tokens.map((t) => ({
          token: t.text,
          logprob: t.logprob!,
          bytes: bytes(t.text),
          top_logprobs: (t.top ?? []).slice(0, n).map((a) => ({ token: a.text, logprob: a.logprob, bytes: bytes(a.text) })),
        })),
      };
    }
    return {
      tokens: tokens.map((t) => t.text),
      token_logprobs: tokens.map((t) => t.logprob!),
      top_logprobs: tokens.map((t) => {
        const dict: Record<string, number> = {};
        for (const a of t.top ?? []) if (!(a.text in dict)) dict[a.text] = a.logprob;
        if (!(t.text in dict)) dict[t.text] = t.logprob!;
        return dict;
      }),
      text_offset: tokens.map((t) => offsetBase + t.offset),
    };
  }
}
