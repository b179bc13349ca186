/**
 * Contracts of the inference layer: a ModelRunner runs one forward step for a batch of sequences, each row carrying
 * its own KV cache and adapter slot. The batcher, sampler and server only see this interface, so the ONNX graph
 * runner and the plain-JS reference are interchangeable (and compared in tests).
 */

import type { ModelConfig } from '../io/hf-config.js';
import type { HostTensor } from '../io/tensor.js';

/** The part of the engine's ModelConfig (io/hf-config.ts) that inference needs; ModelConfig is assignable to it. */
export type DecoderConfig = Omit<ModelConfig, 'architecture'>;

/** A float32 tensor held in JS memory: the engine's io HostTensor. */
export type Tensor = HostTensor;

/** The linear layers a LoRA adapter may target (PEFT module names). */
export const LORA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/** A sequence's KV cache as the batcher sees it: opaque, owned by the runner that made it. */
export interface KvCache {
  /** Positions already in the cache. */
  readonly length: number;
}

/** Growing key/value cache of ONE sequence: per layer [numKvHeads, capacity, headDim], first `length` positions valid. */
export class SequenceCache implements KvCache {
  length = 0;
  capacity: number;
  keys: Float32Array[];
  values: Float32Array[];

  constructor(
    readonly numLayers: number,
    readonly numKvHeads: number,
    readonly headDim: number,
    initialCapacity = 64,
  ) {
    this.capacity = initialCapacity;
    this.keys = Array.from({ length: numLayers }, () => new Float32Array(numKvHeads * initialCapacity * headDim));
    this.values = Array.from({ length: numLayers }, () => new Float32Array(numKvHeads * initialCapacity * headDim));
  }

  /** Appends `count` new positions for `layer`; `headOffsets[h]` is where head h's first new position starts in k/v. */
  append(layer: number, k: Float32Array, v: Float32Array, count: number, headOffsets: number[]): void {
    this.reserve(this.length + count);
    const hd = this.headDim;
    for (let h = 0; h < this.numKvHeads; h++) {
      const src = headOffsets[h]!;
      const dst = (h * this.capacity + this.length) * hd;
      this.keys[layer]!.set(k.subarray(src, src + count * hd), dst);
      this.values[layer]!.set(v.subarray(src, src + count * hd), dst);
    }
  }

  /** Call after every layer appended `count` positions. */
  advance(count: number): void {
    this.length += count;
  }

  private reserve(needed: number): void {
    if (needed <= this.capacity) return;
    let cap = this.capacity;
    while (cap < needed) cap *= 2;
    const hd = this.headDim;
    const grow = (old: Float32Array) => {
      const next = new Float32Array(this.numKvHeads * cap * hd);
      for (let h = 0; h < this.numKvHeads; h++) {
        next.set(old.subarray(h * this.capacity * hd, (h * this.capacity + this.length) * hd), h * cap * hd);
      }
      return next;
    };
    this.keys = this.keys.map(grow);
    this.values = this.values.map(grow);
    this.capacity = cap;
  }
}

/** One row of a forward step: the new tokens of a sequence, its cache (past positions) and its adapter slot (0 = none). */
export interface ForwardRow<C extends KvCache = KvCache> {
  tokens: number[];
  cache: C;
  slot: number;
}

export interface ForwardOptions {
  /** Return logits for every new position (prefill checks) instead of only the last one. */
  allPositions?: boolean;
}

/** LoRA factors of one adapter, keyed `${layer}.${module}`, with scale (alpha/r or alpha/sqrt(r)) applied by the caller. */
export interface LoraWeights {
  rank: number;
  scale: number;
  /** A: [r, in], B: [out, r] (PEFT layout). */
  factors: Map<string, { a: Tensor; b: Tensor }>;
}

export interface ModelRunner {
  readonly config: DecoderConfig;
  /** Adapter slots including slot 0 (always no adapter). */
  readonly numSlots: number;
  readonly maxRank: number;
  /** Runs the new tokens of every row, appends their keys/values to the row caches and returns logits:
   *  per row one Float32Array [vocab] (last position), or [T*vocab] with allPositions. */
  forward(rows: ForwardRow[], options?: ForwardOptions): Promise<Float32Array[]>;
  /** Writes (or clears with null) the LoRA factors of one slot; takes effect for the next forward. */
  setSlot(slot: number, weights: LoraWeights | null): void;
  newCache(): KvCache;
  /** The sequence is done: its cache may be dropped (after any forward already started). */
  releaseCache?(cache: KvCache): void;
  /** Set when the runner can no longer work (e.g. its worker thread died): readiness turns false. */
  readonly failure?: Error;
  dispose(): Promise<void>;
}

/** The runner's own cache type, or a clear error when a cache from another runner is passed. */
export function ownCache(cache: KvCache): SequenceCache {
  if (!(cache instanceof SequenceCache)) throw new Error('KV cache belongs to another runner');
  return cache;
}

export function eosIds(config: DecoderConfig): number[] {
  const e = config.eosTokenId;
  return e === undefined ? [] : Array.isArray(e) ? e : [e];
}
