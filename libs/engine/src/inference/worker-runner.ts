/**
 * ModelRunner whose onnxruntime sessions and KV caches live in a worker thread (runner-worker.ts): session.run blocks
 * its thread, so running it there keeps the HTTP event loop free during every step. Caches are handles
 * (an id and the length the worker reached); logits come back as transferred buffers.
 *
 * The worker runs the BUILT runner-worker.js (dist/, `npm run build`), also when this file is loaded from src/.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ModelConfig } from '../io/hf-config.js';
import { serializeLora, type FromWorker, type ToWorker, type WorkerInit } from './runner-protocol.js';
import { checkLoraFits } from './onnx-runner.js';
import type { ForwardOptions, ForwardRow, KvCache, LoraWeights, ModelRunner } from './types.js';

class RemoteCache implements KvCache {
  length = 0;
  constructor(readonly id: number) {}
}

export function runnerWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  const path = here.endsWith('.ts') ? here.replace(/\/src\/inference\/[^/]+\.ts$/, '/dist/inference/runner-worker.js') : here.replace(/[^/]+\.js$/, 'runner-worker.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: build the engine first (npm run build)`);
  return path;
}

export class WorkerRunner implements ModelRunner {
  private nextCache = 1;
  private nextCall = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  failure: Error | undefined;

  private constructor(
    readonly config: ModelConfig,
    readonly numSlots: number,
    readonly maxRank: number,
    private readonly worker: Worker,
  ) {
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'error' && msg.id === null) {
        this.failure = new Error(msg.message);
        return;
      }
      if (msg.type === 'ready' || msg.id === null) return;
      const call = this.pending.get(msg.id);
      if (!call) return;
      this.pending.delete(msg.id);
      if (msg.type === 'error') call.reject(new Error(msg.message));
      else call.resolve(msg.type === 'result' ? msg.logits : undefined);
    });
    const die = (err: Error) => {
      this.failure ??= err;
      for (const call of this.pending.values()) call.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`runner worker exited (code ${code})`)));
  }

  static async create(modelDir: string, config: ModelConfig, options: Omit<WorkerInit, 'modelDir'>): Promise<WorkerRunner> {
    const worker = new Worker(runnerWorkerPath(), { workerData: { modelDir, ...options } satisfies WorkerInit });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: FromWorker) => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'error' && msg.id === null) reject(new Error(msg.message));
        else return;
        worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new WorkerRunner(config, options.numSlots, options.maxRank, worker);
  }

  private post(msg: ToWorker): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(msg);
  }

  private call<T>(make: (id: number) => ToWorker): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextCall++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage(make(id));
    });
  }

  newCache(): KvCache {
    return new RemoteCache(this.nextCache++);
  }

  releaseCache(cache: KvCache): void {
    if (cache instanceof RemoteCache && !this.failure) this.worker.postMessage({ type: 'release', cacheId: cache.id } satisfies ToWorker);
  }

  setSlot(slot: number, weights: LoraWeights | null): void {
    if (slot <= 0 || slot >= this.numSlots) throw new Error(`slot ${slot} out of range 1..${this.numSlots - 1}`);
    // checked here so a bad adapter fails the load, not the worker later
    if (weights) checkLoraFits(this.config, weights, this.maxRank);
    this.post({ type: 'setSlot', slot, weights: serializeLora(weights) });
  }

  async forward(rows: ForwardRow[], options: ForwardOptions = {}): Promise<Float32Array[]> {
    const caches = rows.map((r) => {
      if (!(r.cache instanceof RemoteCache)) throw new Error('KV cache belongs to another runner');
      return r.cache;
    });
    const logits = await this.call<Float32Array[]>((id) => ({
      type: 'forward',
      id,
      rows: rows.map((r, i) => ({ cacheId: caches[i]!.id, tokens: r.tokens, slot: r.slot })),
      allPositions: options.allPositions ?? false,
    }));
    rows.forEach((r, i) => (caches[i]!.length += r.tokens.length));
    return logits;
  }

  async dispose(): Promise<void> {
    if (!this.failure) await this.call((id) => ({ type: 'dispose', id })).catch(() => undefined);
    await this.worker.terminate();
  }
}
