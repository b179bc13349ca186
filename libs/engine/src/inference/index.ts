// Inference: KV-cache decoder graphs, multi-LoRA slots, continuous batching, sampling (used by apps/serving).
export * from './types.js';
export * from './sampling.js';
export * from './text-stream.js';
export * from './decoder-graph.js';
export * from './onnx-runner.js';
export * from './reference-model.js';
export * from './adapter-pool.js';
export * from './batcher.js';
export * from './lora-weights.js';
export * from './serving-engine.js';
export * from './worker-runner.js';
