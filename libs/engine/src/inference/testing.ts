/** Seeded random tiny models and adapters for inference tests and benchmarks (no files, no downloads). */
import { expectedWeights } from '../io/checkpoint.js';
import type { ModelConfig } from '../io/hf-config.js';
import { SeededRandom } from './sampling.js';
import { LORA_MODULES, type LoraWeights, type Tensor } from './types.js';
import { moduleDims } from './decoder-graph.js';

export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    architecture: 'LlamaForCausalLM',
    vocabSize: 48,
    hiddenSize: 32,
    intermediateSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    attentionBias: false,
    maxPositionEmbeddings: 128,
    bosTokenId: 1,
    eosTokenId: 2,
    ...over,
  };
}

function normal(r: SeededRandom): number {
  return Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
}

export function randomWeights(c: ModelConfig, seed: number, std = 0.2): Map<string, Tensor> {
  const r = new SeededRandom(seed);
  const out = new Map<string, Tensor>();
  for (const [name, shape] of expectedWeights(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) data[i] = isNorm ? 1 + 0.1 * normal(r) : std * normal(r);
    out.set(name, { shape, data });
  }
  return out;
}

/** A random LoRA on the given modules (B non-zero so it really changes the output). */
export function randomLora(c: ModelConfig, seed: number, rank = 4, modules: readonly string[] = LORA_MODULES, scale = 2): LoraWeights {
  const r = new SeededRandom(seed);
  const factors = new Map<string, { a: Tensor; b: Tensor }>();
  for (let l = 0; l < c.numLayers; l++) {
    for (const m of LORA_MODULES) {
      if (!modules.includes(m)) continue;
      const d = moduleDims(c, m);
      const a = { shape: [rank, d.in], data: Float32Array.from({ length: rank * d.in }, () => 0.2 * normal(r)) };
      const b = { shape: [d.out, rank], data: Float32Array.from({ length: d.out * rank }, () => 0.2 * normal(r)) };
      factors.set(`${l}.${m}`, { a, b });
    }
  }
  return { rank, scale, factors };
}
