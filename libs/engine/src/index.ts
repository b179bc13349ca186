// graph IR, ONNX emission, autodiff, ORT sessions (engine core)
export * from './graph/ir.js';
export * as ops from './graph/ops.js';
export { gradients, gradRules, unbroadcast } from './graph/autodiff.js';
export { toOnnx, type ExternalPlan } from './graph/onnx.js';
export { Session, type HostValue, type SessionOptions } from './graph/runtime.js';
// Llama-family model graphs (reused by inference/ for KV-cache graphs)
export * from './model/llama.js';
export * from './model/training-graph.js';
