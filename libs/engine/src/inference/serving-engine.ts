/**
 * The serving core without HTTP: a base model loaded from an HF directory into the ONNX inference graphs, its
 * tokenizer and chat template, the adapter pool and the continuous batcher. `generate` takes a lease on the
 * requested adapter (loading it if needed), streams tokens with their text and logprobs, and releases the lease
 * when the request ends — so a hot swap never touches a running request.
 */
import { loadCheckpoint } from '../io/checkpoint.js';
import { loadModelConfig, type ModelConfig } from '../io/hf-config.js';
import { TextTokenizer } from '../io/tokenizer.js';
import { AdapterPool, type AdapterLoader, type AdapterPoolEvents } from './adapter-pool.js';
import { ContinuousBatcher, type FinishReason, type StepStats } from './batcher.js';
import { loadLoraWeights } from './lora-weights.js';
import { OnnxRunner } from './onnx-runner.js';
import { WorkerRunner } from './worker-runner.js';
import type { SamplingParams } from './sampling.js';
import { TextStream } from './text-stream.js';
import { eosIds, type ModelRunner } from './types.js';

export interface ServingEngineOptions {
  modelDir: string;
  /** Name the base model is served under (the `model` field). */
  modelName: string;
  /** Adapter slots besides the base model. */
  maxLoras: number;
  maxLoraRank: number;
  maxBatch: number;
  intraOpThreads?: number;
  /** 'worker' (default): onnxruntime in a worker thread, the event loop stays free; 'inline': on the calling thread. */
  runner?: 'worker' | 'inline';
  /** Default: read a PEFT directory. */
  adapterLoader?: AdapterLoader;
  onStep?(stats: StepStats): void;
  poolEvents?: AdapterPoolEvents;
}

export interface CompletionParams {
  /** Base model name or an adapter name. */
  model: string;
  promptIds: number[];
  maxTokens: number;
  sampling: SamplingParams;
  stop: string[];
  /** null = none; n = chosen token + n alternatives. */
  logprobs: number | null;
  ignoreEos?: boolean;
}

export interface TokenText {
  id: number;
  /** The token alone, decoded (filled when logprobs were requested). */
  text: string;
  logprob?: number;
  top?: { id: number; text: string; logprob: number }[];
  /** Character offset of this token in the completion. */
  offset: number;
}

export interface CompletionEvents {
  /** `text` is the newly releasable completion text (may be empty while a stop sequence is pending);
   *  `token` is null for text released at the end without a new token. */
  onToken(text: string, token: TokenText | null): void;
  onFinish(reason: FinishReason, usage: { promptTokens: number; completionTokens: number }, completion: string): void;
  onError(error: Error): void;
}

export interface CompletionHandle {
  adapterVersion?: string;
  cancel(): void;
}

export class ServingEngine {
  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: TextTokenizer,
    readonly runner: ModelRunner,
    readonly pool: AdapterPool,
    readonly batcher: ContinuousBatcher,
    readonly modelName: string,
    readonly maxBatch: number,
  ) {}

  static async open(o: ServingEngineOptions): Promise<ServingEngine> {
    const tokenizer = await TextTokenizer.load(o.modelDir);
    const slots = { numSlots: o.maxLoras + 1, maxRank: o.maxLoraRank, intraOpThreads: o.intraOpThreads };
    let config: ModelConfig;
    let runner: ModelRunner;
    if ((o.runner ?? 'worker') === 'worker') {
      config = await loadModelConfig(o.modelDir);
      runner = await WorkerRunner.create(o.modelDir, config, slots);
    } else {
      const checkpoint = await loadCheckpoint(o.modelDir);
      config = checkpoint.config;
      runner = await OnnxRunner.create(config, checkpoint.weights, slots);
    }
    const loader = o.adapterLoader ?? ((src) => loadLoraWeights(src.path, config.numLayers));
    const pool = new AdapterPool(runner, loader, o.poolEvents);
    const batcher = new ContinuousBatcher(runner, { maxBatch: o.maxBatch, onStep: o.onStep });
    return new ServingEngine(config, tokenizer, runner, pool, batcher, o.modelName, o.maxBatch);
  }

  get contextLength(): number {
    return this.config.maxPositionEmbeddings;
  }

  /** EOS ids from config.json and the tokenizer. */
  get stopTokenIds(): number[] {
    const ids = new Set(eosIds(this.config));
    if (this.tokenizer.eosId !== undefined) ids.add(this.tokenizer.eosId);
    return [...ids];
  }

  isServed(model: string): boolean {
    return model === this.modelName || this.pool.has(model);
  }

  async generate(p: CompletionParams, events: CompletionEvents): Promise<CompletionHandle> {
    const lease = p.model === this.modelName ? null : await this.pool.acquire(p.model);
    const stream = new TextStream(this.tokenizer, p.stop);
    const tokText = (id: number) => this.tokenizer.decode([id], false);
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      lease?.release();
      return true;
    };
    const handle = this.batcher.submit(
      {
        promptIds: p.promptIds,
        slot: lease?.slot ?? 0,
        maxTokens: p.maxTokens,
        sampling: p.sampling,
        stopTokenIds: p.ignoreEos ? [] : this.stopTokenIds,
        logprobs: p.logprobs,
      },
      {
        onToken: (t) => {
          const text = stream.push(t.id);
          // the token's own text is only needed for logprobs (decoding it costs a tokenizer call per token)
          const token: TokenText = { id: t.id, text: '', offset: stream.offsets[stream.offsets.length - 1]! };
          if (t.logprob !== undefined) {
            token.text = tokText(t.id);
            token.logprob = t.logprob;
            token.top = t.top?.map((a) => ({ id: a.id, text: tokText(a.id), logprob: a.logprob }));
          }
          events.onToken(text, token);
          return !stream.stopped;
        },
        onFinish: (reason, usage) => {
          if (!end()) return;
          const rest = reason === 'abort' ? '' : stream.flush();
          if (rest) events.onToken(rest, null);
          events.onFinish(reason, usage, stream.completion);
        },
        onError: (err) => {
          if (end()) events.onError(err);
        },
      },
    );
    return {
      adapterVersion: lease?.version,
      cancel: () => handle.cancel(),
    };
  }

  async close(): Promise<void> {
    await this.batcher.stop();
    await this.runner.dispose();
  }
}
