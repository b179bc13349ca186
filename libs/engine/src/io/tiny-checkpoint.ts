import { mkdir, readdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../data/rng.js';
import { expectedWeights, INDEX_FILE, SINGLE_FILE } from './checkpoint.js';
import { toHfConfig, type Architecture, type ModelConfig } from './hf-config.js';
import { storageToDtype, writeSafetensors, type FloatStorage, type WritableTensor } from './safetensors.js';
import { buildByteLevelTokenizer, TINY_CHAT_TEMPLATE } from './byte-bpe.js';
import { numel } from './tensor.js';

export interface TinyCheckpointOptions {
  architecture?: Architecture;
  dtype?: FloatStorage;
  /** number of shards (>= 2 writes model.safetensors.index.json); true = 2 */
  sharded?: boolean | number;
  tied?: boolean;
  vocabSize?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  headDim?: number;
  maxPositionEmbeddings?: number;
  ropeTheta?: number;
  rmsNormEps?: number;
  /** std of the normal init of linear/embedding weights */
  initStd?: number;
  seed?: number;
  /** extra keys merged into config.json */
  extraConfig?: Record<string, unknown>;
}

/**
 * Writes a random Hugging Face checkpoint directory (config.json, safetensors single or sharded, a real byte-level
 * BPE tokenizer.json, tokenizer_config.json with a chat template). Tests everywhere build their models with it.
 */
export async function writeTinyCheckpoint(dir: string, opts: TinyCheckpointOptions = {}): Promise<ModelConfig> {
  const architecture = opts.architecture ?? 'LlamaForCausalLM';
  const dtype = opts.dtype ?? 'float32';
  const hiddenSize = opts.hiddenSize ?? 64;
  const numHeads = opts.numHeads ?? 4;
  const vocabSize = opts.vocabSize ?? 384;
  const { tokenizer, vocabSize: tokVocab } = buildByteLevelTokenizer(vocabSize);
  const config: ModelConfig = {
    architecture,
    vocabSize,
    hiddenSize,
    intermediateSize: opts.intermediateSize ?? 128,
    numLayers: opts.numLayers ?? 2,
    numHeads,
    numKvHeads: opts.numKvHeads ?? Math.max(1, numHeads / 2),
    headDim: opts.headDim ?? hiddenSize / numHeads,
    rmsNormEps: opts.rmsNormEps ?? 1e-5,
    ropeTheta: opts.ropeTheta ?? 10000,
    tieWordEmbeddings: opts.tied ?? false,
    attentionBias: architecture === 'Qwen2ForCausalLM',
    maxPositionEmbeddings: opts.maxPositionEmbeddings ?? 512,
    bosTokenId: 1,
    eosTokenId: 2,
  };
  if (tokVocab > vocabSize) throw new Error('tokenizer larger than vocab');
  const rng = new Rng(opts.seed ?? 0);
  const std = opts.initStd ?? 0.02;
  const storage = storageToDtype(dtype);
  const tensors = new Map<string, WritableTensor>();
  for (const [name, shape] of expectedWeights(config)) {
    const data = new Float32Array(numel(shape));
    // Norm weights near 1 (not exactly 1) so a wrong norm implementation shows up in reference checks.
    const isNorm = name.endsWith('layernorm.weight') || name === 'model.norm.weight';
    for (let i = 0; i < data.length; i++) data[i] = isNorm ? 1 + 0.1 * rng.normal() : (name.endsWith('.bias') ? 0.1 : std) * rng.normal();
    tensors.set(name, { dtype: storage, shape, data });
  }
  await mkdir(dir, { recursive: true });
  const shards = opts.sharded === true ? 2 : typeof opts.sharded === 'number' ? opts.sharded : 1;
  if (shards >= 2) {
    const names = [...tensors.keys()];
    const per = Math.ceil(names.length / shards);
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = new Map(names.slice(s * per, (s + 1) * per).map((n) => [n, tensors.get(n)!]));
      for (const [n, t] of part) {
        weightMap[n] = file;
        totalSize += numel(t.shape) * (storage === 'F32' ? 4 : 2);
      }
      await writeSafetensors(join(dir, file), part, { format: 'pt' });
    }
    await writeFile(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  } else {
    await writeSafetensors(join(dir, SINGLE_FILE), tensors, { format: 'pt' });
  }
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...toHfConfig(config, dtype), ...opts.extraConfig }, null, 2));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      {
        add_bos_token: true,
        add_eos_token: false,
        bos_token: '<s>',
        eos_token: '</s>',
        unk_token: '<unk>',
        pad_token: '</s>',
        model_max_length: config.maxPositionEmbeddings,
        tokenizer_class: 'PreTrainedTokenizerFast',
        chat_template: TINY_CHAT_TEMPLATE,
      },
      null,
      2,
    ),
  );
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2));
  return config;
}

export const DEMO_MODEL_NAME = 'demo-tiny-llama';

/**
 * When the models directory holds no model, creates `demo-tiny-llama` (RANDOM weights, labelled as such in its
 * config.json and CLARA_DEMO_MODEL.md) so a new user can run the whole pipeline. Returns the demo dir or null.
 */
export async function ensureDemoModel(modelsDir: string): Promise<string | null> {
  await mkdir(modelsDir, { recursive: true });
  for (const e of await readdir(modelsDir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const hasConfig = await access(join(modelsDir, e.name, 'config.json')).then(
      () => true,
      () => false,
    );
    if (hasConfig) return null;
  }
  const dir = join(modelsDir, DEMO_MODEL_NAME);
  await writeTinyCheckpoint(dir, {
    architecture: 'LlamaForCausalLM',
    vocabSize: 512,
    hiddenSize: 64,
    intermediateSize: 172,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    maxPositionEmbeddings: 512,
    // larger than HF's 0.02 so the random tiny model has logits big enough to visibly learn in a demo run
    initStd: 0.1,
    seed: 1234,
    extraConfig: { clara_demo_model: true, clara_note: 'RANDOM WEIGHTS - demo model generated by CLARA, not a trained model' },
  });
  await writeFile(
    join(dir, 'CLARA_DEMO_MODEL.md'),
    `# demo-tiny-llama — RANDOM WEIGHTS\n\nGenerated by CLARA because the models directory was empty. It is a tiny LlamaForCausalLM\n` +
      `(hidden 64, 2 layers, vocab 512) with random weights and a small byte-level BPE tokenizer: it lets you run the\n` +
      `whole pipeline (train, register, serve), but its outputs mean nothing. To use a real model, copy a Hugging Face\n` +
      `checkpoint directory (config.json, *.safetensors, tokenizer.json, tokenizer_config.json), e.g. TinyLlama-1.1B-Chat\n` +
      `or Qwen2-0.5B-Instruct, into the models directory and name it as \`base_model\`.\n`,
  );
  return dir;
}
