// graph IR, ONNX emission, autodiff, ORT sessions (engine core)
export { Graph, type DType, type Dim, type Node, type Attr, type Initializer, type TensorInfo, type TypedData } from './graph/ir.js';
export * as ops from './graph/ops.js';
export { gradients, gradRules, unbroadcast } from './graph/autodiff.js';
export { toOnnx, type ExternalPlan } from './graph/onnx.js';
export { Session, type HostValue, type SessionOptions } from './graph/runtime.js';
// Llama-family model graphs (reused by inference/ for KV-cache graphs)
export * from './model/llama.js';
export { buildTrainingGraph, buildEvalGraph, emitLoss, batchFeeds, countTargets, type GraphSpec, type BuiltGraph, type BatchFeeds } from './model/training-graph.js';
// optimizers, schedules, NF4 quantisation, the trainer
export * from './optim/optimizer.js';
export * from './optim/schedule.js';
export * from './quant/nf4.js';
export * from './train/checkpoint.js';
export { train, evaluate, type TrainOptions, type TrainHooks, type TrainResult, type StepReport } from './train/trainer.js';
// checkpoint IO (safetensors, HF config, tokenizer, PEFT, generated test checkpoints), data, CLI option tables
export * from './io/tensor.js';
export * from './io/safetensors.js';
export * from './io/hf-config.js';
export * from './io/checkpoint.js';
export * from './io/tokenizer.js';
export * from './io/peft.js';
export { writeTinyCheckpoint, ensureDemoModel, DEMO_MODEL_NAME, type TinyCheckpointOptions } from './io/tiny-checkpoint.js';
export * from './data/index.js';
export { TRAIN_OPTIONS, OptionError } from './cli/options.js';
export { parseJobConfig, mergeJobConfig, readJobConfigFile, type JobTrainConfig, type TrainerType } from './cli/job-config.js';
export { startTrainProcess, TrainProcessError, type TrainProcessHandle } from './cli/train-process.js';
