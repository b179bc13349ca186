import { IGNORE_INDEX, type Example } from './formats.js';
import { Rng } from './rng.js';

/** Everything needed to continue the exact same sequence of batches after a restart. */
export interface LoaderState {
  epoch: number;
  /** index of the next example within this epoch's order */
  position: number;
  seed: number;
  /** number of examples; restoring onto different data is refused */
  size: number;
}

export interface LoaderOptions {
  batchSize: number;
  seed: number;
  shuffle?: boolean;
  /** drop the last, smaller batch of an epoch */
  dropLast?: boolean;
}

/**
 * Epoch-based batch iterator with a per-epoch permutation derived from (seed, epoch), so its whole state is
 * (epoch, position): saving and restoring it resumes the identical batch sequence.
 */
export class DataLoader {
  private epochValue = 0;
  private position = 0;
  private order: number[];

  constructor(
    readonly examples: Example[],
    readonly opts: LoaderOptions,
  ) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${opts.batchSize}`);
    if (examples.length === 0) throw new Error('no training examples');
    if (opts.dropLast && examples.length < opts.batchSize) {
      throw new Error(`batch size ${opts.batchSize} is larger than the ${examples.length} training examples`);
    }
    this.order = this.orderFor(0);
  }

  get batchesPerEpoch(): number {
    const n = this.examples.length / this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  get epoch(): number {
    return this.epochValue;
  }

  /** fractional epochs completed, e.g. 1.5 */
  get epochProgress(): number {
    return this.epochValue + this.position / this.examples.length;
  }

  private orderFor(epoch: number): number[] {
    const idx = [...this.examples.keys()];
    if (this.opts.shuffle === false) return idx;
    // Mix epoch into the seed: each epoch gets its own permutation, reproducible without stored RNG state.
    return new Rng((this.opts.seed * 1000003 + epoch * 7919) >>> 0).shuffle(idx);
  }

  /** The next batch; wraps to a new epoch (never mixes two epochs in one batch). */
  next(): { examples: Example[]; epoch: number } {
    const n = this.examples.length;
    const bs = this.opts.batchSize;
    if (this.position >= n || (this.opts.dropLast && this.position + bs > n)) {
      this.epochValue++;
      this.position = 0;
      this.order = this.orderFor(this.epochValue);
    }
    const epoch = this.epochValue;
    const idx = this.order.slice(this.position, this.position + bs);
    this.position += idx.length;
    return { examples: idx.map((i) => this.examples[i]!), epoch };
  }

  state(): LoaderState {
    return { epoch: this.epochValue, position: this.position, seed: this.opts.seed, size: this.examples.length };
  }

  restore(s: LoaderState): void {
    if (s.size !== this.examples.length) throw new Error(`cannot resume: checkpoint saw ${s.size} examples, the data now has ${this.examples.length}`);
    if (s.seed !== this.opts.seed) throw new Error(`cannot resume: checkpoint seed ${s.seed} differs from ${this.opts.seed}`);
    this.epochValue = s.epoch;
    this.position = s.position;
    this.order = this.orderFor(s.epoch);
  }
}

export interface Batch {
  batchSize: number;
  seqLen: number;
  /** [batchSize * seqLen], right-padded with padId */
  inputIds: BigInt64Array;
  /** [batchSize * seqLen], padding = -100 */
  labels: BigInt64Array;
  /** [batchSize * seqLen], 1 = real token */
  attentionMask: BigInt64Array;
  /** real (non-pad) tokens */
  numTokens: number;
  /** labels the shifted loss counts (positions 1.. with label != -100) */
  numLabels: number;
}

/** Right-pads to the longest example (or `padTo`); causal attention means pads never affect real tokens. */
export function collate(examples: Example[], padId: number, padTo?: number): Batch {
  const seqLen = padTo ?? Math.max(...examples.map((e) => e.inputIds.length));
  const b = examples.length;
  const inputIds = new BigInt64Array(b * seqLen).fill(BigInt(padId));
  const labels = new BigInt64Array(b * seqLen).fill(BigInt(IGNORE_INDEX));
  const attentionMask = new BigInt64Array(b * seqLen);
  let numTokens = 0;
  let numLabels = 0;
  examples.forEach((e, r) => {
    if (e.inputIds.length > seqLen) throw new Error(`example of ${e.inputIds.length} tokens does not fit seqLen ${seqLen}`);
    for (let t = 0; t < e.inputIds.length; t++) {
      inputIds[r * seqLen + t] = BigInt(e.inputIds[t]!);
      labels[r * seqLen + t] = BigInt(e.labels[t]!);
      attentionMask[r * seqLen + t] = 1n;
      if (t > 0 && e.labels[t] !== IGNORE_INDEX) numLabels++;
    }
    numTokens += e.inputIds.length;
  });
  return { batchSize: b, seqLen, inputIds, labels, attentionMask, numTokens, numLabels };
}
