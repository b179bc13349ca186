import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelConfig, type ModelConfig } from './hf-config.js';
import { readSafetensors } from './safetensors.js';
import type { HostTensor } from './tensor.js';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** HF tensor names and shapes ([out, in] for linears) a checkpoint of this config must contain. */
export function expectedWeights(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  m.set('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    m.set(`${p}.input_layernorm.weight`, [c.hiddenSize]);
    m.set(`${p}.self_attn.q_proj.weight`, [q, c.hiddenSize]);
    m.set(`${p}.self_attn.k_proj.weight`, [kv, c.hiddenSize]);
    m.set(`${p}.self_attn.v_proj.weight`, [kv, c.hiddenSize]);
    m.set(`${p}.self_attn.o_proj.weight`, [c.hiddenSize, q]);
    if (c.attentionBias) {
      m.set(`${p}.self_attn.q_proj.bias`, [q]);
      m.set(`${p}.self_attn.k_proj.bias`, [kv]);
      m.set(`${p}.self_attn.v_proj.bias`, [kv]);
      // Llama with attention_bias=true also biases o_proj; Qwen2 does not.
      if (c.architecture !== 'Qwen2ForCausalLM') m.set(`${p}.self_attn.o_proj.bias`, [c.hiddenSize]);
    }
    m.set(`${p}.post_attention_layernorm.weight`, [c.hiddenSize]);
    m.set(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    m.set(`${p}.mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    m.set(`${p}.mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]);
  }
  m.set('model.norm.weight', [c.hiddenSize]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  return m;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** The safetensors files of a checkpoint directory and which tensor each holds (sharded or single file). */
export async function checkpointFiles(dir: string): Promise<string[]> {
  const indexPath = join(dir, INDEX_FILE);
  if (await exists(indexPath)) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (err) {
      throw new Error(`${indexPath} is not valid JSON: ${(err as Error).message}`);
    }
    if (!index.weight_map || typeof index.weight_map !== 'object') throw new Error(`${indexPath} has no weight_map`);
    return [...new Set(Object.values(index.weight_map))].sort().map((f) => join(dir, f));
  }
  if (await exists(join(dir, SINGLE_FILE))) return [join(dir, SINGLE_FILE)];
  throw new Error(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} (only safetensors checkpoints are supported)`);
}

/** Loads config.json and every weight (upcast to fp32), checking names and shapes against the config. */
export async function loadCheckpoint(dir: string): Promise<{ config: ModelConfig; weights: Map<string, HostTensor> }> {
  const config = await loadModelConfig(dir);
  const expected = expectedWeights(config);
  const weights = new Map<string, HostTensor>();
  for (const file of await checkpointFiles(dir)) {
    for (const [name, t] of await readSafetensors(file)) {
      if (!expected.has(name)) {
        // Tied checkpoints sometimes still carry lm_head; rotary caches are recomputed. Anything else is ignored too.
        continue;
      }
      weights.set(name, t);
    }
  }
  for (const [name, shape] of expected) {
    const t = weights.get(name);
    if (!t) throw new Error(`${dir}: checkpoint is missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${dir}: tensor ${name} has shape [${t.shape}], config expects [${shape}]`);
    }
  }
  return { config, weights };
}
