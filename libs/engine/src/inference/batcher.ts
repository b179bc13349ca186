/**
 * Continuous batching: requests wait in a queue, join the running batch between decode steps (their prompts are
 * prefilled together in one forward), and leave it as soon as they finish or are cancelled. Every step runs ONE
 * forward for all running rows whatever their adapters: each row carries its adapter slot into the graph.
 */
import { applyPenalties, logSoftmax, sampleToken, SeededRandom, topLogprobs, type SamplingParams } from './sampling.js';
import type { KvCache, ModelRunner } from './types.js';

export interface GenerationRequest {
  promptIds: number[];
  /** Adapter slot (0 = base model), held by the caller's lease for the whole generation. */
  slot: number;
  maxTokens: number;
  sampling: SamplingParams;
  /** Token ids that end generation (EOS); not part of the output text. */
  stopTokenIds: number[];
  /** null = no logprobs; n = the chosen token's logprob plus the n best alternatives. */
  logprobs: number | null;
}

export interface GeneratedToken {
  id: number;
  logprob?: number;
  top?: { id: number; logprob: number }[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationSink {
  /** Return false to stop here (a stop sequence matched). */
  onToken(token: GeneratedToken): boolean | void;
  onFinish(reason: FinishReason, usage: { promptTokens: number; completionTokens: number }): void;
  onError(error: Error): void;
}

export interface GenerationHandle {
  cancel(): void;
}

export interface StepStats {
  kind: 'prefill' | 'decode';
  rows: number;
  tokens: number;
  ms: number;
}

interface Row {
  req: GenerationRequest;
  sink: GenerationSink;
  cache: KvCache;
  random: SeededRandom;
  generated: number;
  /** How often each token was generated (for presence/frequency penalties). */
  counts: Map<number, number>;
  last: number;
  cancelled: boolean;
  done: boolean;
}

export interface BatcherOptions {
  maxBatch: number;
  /** Cap on prompt tokens prefilled in one step (several prompts join together up to this). */
  maxPrefillTokens?: number;
  onStep?(stats: StepStats): void;
}

export class ContinuousBatcher {
  private readonly waiting: Row[] = [];
  private running: Row[] = [];
  private looping = false;
  private stopped = false;

  constructor(
    private readonly runner: ModelRunner,
    private readonly options: BatcherOptions,
  ) {}

  get queueDepth(): number {
    return this.waiting.length;
  }

  get batchSize(): number {
    return this.running.filter((r) => !r.done).length;
  }

  submit(req: GenerationRequest, sink: GenerationSink): GenerationHandle {
    if (this.stopped) throw new Error('batcher is stopped');
    const row: Row = {
      req,
      sink,
      cache: this.runner.newCache(),
      random: new SeededRandom(req.sampling.seed ?? Math.floor(Math.random() * 2 ** 32)),
      generated: 0,
      counts: new Map(),
      last: -1,
      cancelled: false,
      done: false,
    };
    this.waiting.push(row);
    this.kick();
    return {
      cancel: () => {
        if (row.done) return;
        row.cancelled = true;
        // a waiting row leaves the queue now; a running one leaves before the next step
        const at = this.waiting.indexOf(row);
        if (at >= 0) this.waiting.splice(at, 1);
        this.finish(row, 'abort');
      },
    };
  }

  /** Ends every request (abort) and refuses new ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const row of [...this.waiting, ...this.running]) this.finish(row, 'abort');
    this.waiting.length = 0;
    while (this.looping) await new Promise((r) => setTimeout(r, 5));
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    setImmediate(() => {
      this.loop()
        .catch(() => undefined)
        .finally(() => {
          this.looping = false;
          if (!this.stopped && (this.waiting.length || this.running.length)) this.kick();
        });
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped && (this.waiting.length > 0 || this.running.length > 0)) {
      this.running = this.running.filter((r) => !r.done);
      const room = this.options.maxBatch - this.running.length;
      if (room > 0 && this.waiting.length > 0) {
        const admitted: Row[] = [];
        let tokens = 0;
        const cap = this.options.maxPrefillTokens ?? 8192;
        while (admitted.length < room && this.waiting.length > 0) {
          const next = this.waiting[0];
          if (admitted.length > 0 && tokens + next.req.promptIds.length > cap) break;
          admitted.push(this.waiting.shift()!);
          tokens += next.req.promptIds.length;
        }
        await this.step('prefill', admitted, (r) => r.req.promptIds);
        this.running.push(...admitted.filter((r) => !r.done));
      } else if (this.running.length > 0) {
        await this.step('decode', this.running, (r) => [r.last]);
      }
      // let HTTP writes, new requests and disconnects through between steps
      await new Promise((r) => setImmediate(r));
    }
  }

  private async step(kind: 'prefill' | 'decode', rows: Row[], tokensOf: (r: Row) => number[]): Promise<void> {
    const live = rows.filter((r) => !r.done);
    if (live.length === 0) return;
    const started = performance.now();
    let logits: Float32Array[];
    try {
      logits = await this.runner.forward(live.map((r) => ({ tokens: tokensOf(r), cache: r.cache, slot: r.req.slot })));
    } catch (err) {
      for (const r of live) this.fail(r, err as Error);
      return;
    }
    this.options.onStep?.({ kind, rows: live.length, tokens: live.reduce((s, r) => s + tokensOf(r).length, 0), ms: performance.now() - started });
    live.forEach((row, i) => {
      if (row.done) return; // cancelled while the step ran
      this.emit(row, logits[i]);
    });
  }

  private emit(row: Row, logits: Float32Array): void {
    const { req } = row;
    const { presencePenalty = 0, frequencyPenalty = 0 } = req.sampling;
    const penalized = presencePenalty || frequencyPenalty ? applyPenalties(logits, row.counts, presencePenalty, frequencyPenalty) : logits;
    const id = sampleToken(penalized, req.sampling, row.random);
    row.last = id;
    row.counts.set(id, (row.counts.get(id) ?? 0) + 1);
    if (req.stopTokenIds.includes(id)) {
      this.finish(row, 'stop');
      return;
    }
    row.generated++;
    const token: GeneratedToken = { id };
    if (req.logprobs !== null) {
      const lp = logSoftmax(logits);
      token.logprob = lp[id];
      token.top = topLogprobs(lp, req.logprobs);
    }
    let keepGoing: boolean | void;
    try {
      keepGoing = row.sink.onToken(token);
    } catch (err) {
      this.fail(row, err as Error);
      return;
    }
    if (row.done) return;
    if (keepGoing === false) this.finish(row, 'stop');
    else if (row.generated >= req.maxTokens) this.finish(row, 'length');
  }

  private finish(row: Row, reason: FinishReason): void {
    if (row.done) return;
    row.done = true;
    this.runner.releaseCache?.(row.cache);
    row.sink.onFinish(reason, { promptTokens: row.req.promptIds.length, completionTokens: row.generated });
  }

  private fail(row: Row, err: Error): void {
    if (row.done) return;
    row.done = true;
    this.runner.releaseCache?.(row.cache);
    row.sink.onError(err);
  }
}
