/**
 * Fixtures for tests that train for real (the engine's own and the apps'): a mapping task a random tiny model
 * cannot know, and small full-rank LoRA settings that learn it in a few dozen steps. Import as
 * `@clara/engine/testing`; nothing in the product uses it.
 */
import type { TrainOptions } from './train/trainer.js';

/** After [BOS, x, SEP] comes y(x): 24 pairs, a fixed permutation of 100..123. */
export const MAPPING_PAIRS: ReadonlyArray<{ x: number; y: number }> = Array.from({ length: 24 }, (_, a) => ({ x: 10 + a, y: 100 + ((a * 7) % 24) }));

/** MAPPING_PAIRS as pre-tokenised JSONL rows, loss only on y. */
export function mappingRows(): string {
  return MAPPING_PAIRS.map(({ x, y }) => JSON.stringify({ input_ids: [1, x, 3, y], labels: [-100, -100, -100, y] })).join('\n') + '\n';
}

/** LoRA on every linear layer, lr 1e-2, 60 constant-lr steps of 8, one thread; `o` overrides any field. */
export function tinyTrainOptions(paths: Pick<TrainOptions, 'modelDir' | 'dataPath' | 'outDir'>, o: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...paths,
    method: 'lora',
    optimizer: 'adamw',
    lr: 1e-2,
    weightDecay: 0,
    steps: 60,
    batchSize: 8,
    gradAccum: 1,
    seqLen: 16,
    rank: 8,
    alpha: 16,
    dropout: 0,
    targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    maxGradNorm: 1,
    seed: 7,
    scheduler: 'constant',
    warmupSteps: 0,
    packing: false,
    threads: 1,
    ...o,
  };
}
