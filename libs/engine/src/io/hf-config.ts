import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM';
export const SUPPORTED_ARCHITECTURES: readonly Architecture[] = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'];

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  /** qwen2: q/k/v have bias (o_proj has none) */
  attentionBias: boolean;
  maxPositionEmbeddings: number;
  bosTokenId?: number;
  eosTokenId?: number | number[];
}

function int(raw: Record<string, unknown>, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`config.json: "${key}" must be a positive integer (got ${JSON.stringify(raw[key])})`);
  }
  return v;
}

function num(raw: Record<string, unknown>, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`config.json: "${key}" must be a positive number (got ${JSON.stringify(raw[key])})`);
  }
  return v;
}

/** Parses a Hugging Face config.json object with the defaults transformers uses for each architecture. */
export function parseModelConfig(raw: Record<string, unknown>): ModelConfig {
  const archs = raw.architectures;
  const declared = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : undefined;
  const byType: Record<string, Architecture> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' };
  const architecture = declared ?? (typeof raw.model_type === 'string' ? byType[raw.model_type] : undefined);
  if (!architecture || !SUPPORTED_ARCHITECTURES.includes(architecture as Architecture)) {
    throw new Error(
      `config.json: unsupported architecture ${JSON.stringify(declared ?? raw.model_type ?? null)}; ` +
        `supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
    );
  }
  const arch = architecture as Architecture;
  if (raw.rope_scaling != null && typeof raw.rope_scaling === 'object') {
    const t = (raw.rope_scaling as Record<string, unknown>).rope_type ?? (raw.rope_scaling as Record<string, unknown>).type;
    if (t !== 'default') throw new Error(`config.json: rope_scaling type ${JSON.stringify(t)} is not supported`);
  }
  const hiddenSize = int(raw, 'hidden_size');
  const numHeads = int(raw, 'num_attention_heads');
  const numKvHeads = int(raw, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new Error(`config.json: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : int(raw, 'head_dim');
  if (!Number.isInteger(headDim)) throw new Error(`config.json: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  // transformers' defaults: Llama/Mistral tie=false unless set; Qwen2 also defaults false but its checkpoints usually set it.
  const tie = raw.tie_word_embeddings;
  if (tie != null && typeof tie !== 'boolean') throw new Error('config.json: "tie_word_embeddings" must be a boolean');
  const attentionBias = arch === 'Qwen2ForCausalLM' ? true : raw.attention_bias === true;
  if (arch !== 'Qwen2ForCausalLM' && raw.mlp_bias === true) throw new Error('config.json: mlp_bias=true is not supported');
  const hiddenAct = raw.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') throw new Error(`config.json: hidden_act ${JSON.stringify(hiddenAct)} is not supported (only silu)`);
  const eos = raw.eos_token_id;
  return {
    architecture: arch,
    vocabSize: int(raw, 'vocab_size'),
    hiddenSize,
    intermediateSize: int(raw, 'intermediate_size'),
    numLayers: int(raw, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(raw, 'rms_norm_eps', 1e-6),
    ropeTheta: num(raw, 'rope_theta', 10000),
    tieWordEmbeddings: tie ?? false,
    attentionBias,
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', 2048),
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : undefined,
    eosTokenId: typeof eos === 'number' || Array.isArray(eos) ? (eos as number | number[]) : undefined,
  };
}

export async function loadModelConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`${dir} is not a Hugging Face model directory: ${path} is missing`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseModelConfig(raw);
}

/** The inverse of parseModelConfig, used to write generated checkpoints. */
export function toHfConfig(c: ModelConfig, torchDtype: string): Record<string, unknown> {
  const modelType = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', Qwen2ForCausalLM: 'qwen2' }[c.architecture];
  const out: Record<string, unknown> = {
    architectures: [c.architecture],
    model_type: modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: torchDtype,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
  };
  if (c.architecture !== 'Qwen2ForCausalLM') out.attention_bias = c.attentionBias;
  return out;
}
