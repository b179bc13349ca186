import { mkdtemp, rm, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, expectedWeights } from './checkpoint.js';
import { parseModelConfig, loadModelConfig } from './hf-config.js';
import { writeTinyCheckpoint, ensureDemoModel } from './tiny-checkpoint.js';
import { readSafetensorsHeader } from './safetensors.js';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'clara-ckpt-'));
  dirs.push(d);
  return d;
}
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('config.json parsing', () => {
  const base = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 300 };
  it('Llama: defaults for kv heads, head_dim, tie and bias', () => {
    const c = parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'], rms_norm_eps: 1e-5 });
    expect(c).toMatchObject({ architecture: 'LlamaForCausalLM', numKvHeads: 4, headDim: 16, tieWordEmbeddings: false, attentionBias: false, rmsNormEps: 1e-5, ropeTheta: 10000 });
  });
  it('Mistral: GQA and rope_theta from config', () => {
    const c = parseModelConfig({ ...base, architectures: ['MistralForCausalLM'], num_key_value_heads: 2, rope_theta: 1e6, head_dim: 32 });
    expect(c).toMatchObject({ architecture: 'MistralForCausalLM', numKvHeads: 2, headDim: 32, ropeTheta: 1e6, attentionBias: false });
  });
  it('Qwen2: q/k/v bias and tie as the config says', () => {
    const c = parseModelConfig({ ...base, architectures: ['Qwen2ForCausalLM'], num_key_value_heads: 2, tie_word_embeddings: true });
    expect(c).toMatchObject({ architecture: 'Qwen2ForCausalLM', attentionBias: true, tieWordEmbeddings: true });
    expect(expectedWeights(c).has('model.layers.0.self_attn.q_proj.bias')).toBe(true);
    expect(expectedWeights(c).has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    expect(expectedWeights(c).has('lm_head.weight')).toBe(false);
  });
  it('unknown architecture and bad values fail with a clear error', () => {
    expect(() => parseModelConfig({ ...base, architectures: ['GPT2LMHeadModel'] })).toThrow(/unsupported architecture "GPT2LMHeadModel".*LlamaForCausalLM/);
    expect(() => parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'], hidden_size: -1 })).toThrow(/hidden_size/);
    expect(() => parseModelConfig({ ...base, architectures: ['LlamaForCausalLM'], num_key_value_heads: 3 })).toThrow(/multiple/);
  });
  it('a missing config.json names the file', async () => {
    await expect(loadModelConfig(await tmp())).rejects.toThrow(/config.json is missing/);
  });
});

describe('checkpoints', () => {
  for (const [arch, dtype, sharded, tied] of [
    ['LlamaForCausalLM', 'float32', false, false],
    ['MistralForCausalLM', 'float16', false, false],
    ['Qwen2ForCausalLM', 'bfloat16', 3, true],
    ['LlamaForCausalLM', 'bfloat16', true, true],
  ] as const) {
    it(`writes and loads a ${arch} ${dtype} ${sharded ? 'sharded ' : ''}${tied ? 'tied ' : ''}checkpoint`, async () => {
      const d = await tmp();
      const cfg = await writeTinyCheckpoint(d, { architecture: arch, dtype, sharded, tied, seed: 7 });
      const files = await readdir(d);
      if (sharded) {
        expect(files).toContain('model.safetensors.index.json');
        const idx = JSON.parse(await readFile(join(d, 'model.safetensors.index.json'), 'utf8'));
        expect(new Set(Object.values(idx.weight_map)).size).toBe(sharded === true ? 2 : sharded);
        const first = Object.values(idx.weight_map)[0] as string;
        const hdr = await readSafetensorsHeader(join(d, first));
        expect([...hdr.tensors.values()][0]!.dtype).toBe(dtype === 'bfloat16' ? 'BF16' : 'F32');
      } else expect(files).toContain('model.safetensors');
      const { config, weights } = await loadCheckpoint(d);
      expect(config).toEqual(cfg);
      expect(weights.has('lm_head.weight')).toBe(!tied);
      expect(weights.get('model.layers.1.self_attn.k_proj.weight')!.shape).toEqual([cfg.numKvHeads * cfg.headDim, cfg.hiddenSize]);
      expect(weights.get('model.embed_tokens.weight')!.data.every(Number.isFinite)).toBe(true);
    });
  }

  it('same seed → same weights; a missing tensor is reported by name', async () => {
    const a = await tmp();
    const b = await tmp();
    await writeTinyCheckpoint(a, { seed: 5, dtype: 'bfloat16' });
    await writeTinyCheckpoint(b, { seed: 5, dtype: 'bfloat16' });
    expect((await readFile(join(a, 'model.safetensors'))).equals(await readFile(join(b, 'model.safetensors')))).toBe(true);
    const cfg = JSON.parse(await readFile(join(a, 'config.json'), 'utf8'));
    await writeFile(join(a, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3 }));
    await expect(loadCheckpoint(a)).rejects.toThrow(/missing tensor model.layers.2/);
  });

  it('ensureDemoModel creates a labelled random demo model only when the directory is empty', async () => {
    const d = await tmp();
    const demo = await ensureDemoModel(d);
    expect(demo).toBe(join(d, 'demo-tiny-llama'));
    expect(await readFile(join(demo!, 'CLARA_DEMO_MODEL.md'), 'utf8')).toMatch(/RANDOM WEIGHTS/);
    expect(JSON.parse(await readFile(join(demo!, 'config.json'), 'utf8')).clara_demo_model).toBe(true);
    expect((await loadCheckpoint(demo!)).config.architecture).toBe('LlamaForCausalLM');
    expect(await ensureDemoModel(d)).toBeNull();
  });
});
