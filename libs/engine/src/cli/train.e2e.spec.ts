import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainCli } from './train.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';
import { loadAdapter } from '../io/peft.js';
import { readSafetensorsHeader } from '../io/safetensors.js';

// End-to-end through the real CLI entry: tiny random checkpoints, a learnable chat mapping, real ONNX Runtime training.
let dir: string;
let data: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clara-cli-e2e-'));
  const pairs = [
    ['sky', 'blue'],
    ['grass', 'green'],
    ['snow', 'white'],
    ['coal', 'black'],
  ];
  const rows = pairs.map(([q, a]) => JSON.stringify({ messages: [{ role: 'user', content: `Colour of ${q}?` }, { role: 'assistant', content: `The ${q} is ${a}.` }] }));
  data = join(dir, 'train.jsonl');
  await writeFile(data, rows.join('\n') + '\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await runTrainCli(args, { out: (l) => out.push(l), err: (l) => out.push(l) });
  return { code, out };
}

const tiny = { initStd: 0.15, vocabSize: 320, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2 };
const common = ['--steps', '25', '--batch-size', '4', '--lr', '0.01', '--rank', '4', '--alpha', '8', '--dropout', '0', '--seq-len', '48', '--threads', '1', '--scheduler', 'constant'];

async function metrics(out: string): Promise<{ step: number; loss: number }[]> {
  return (await readFile(join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
}

describe('npm run train end to end', () => {
  it('lora on an fp32 Llama: writes a PEFT adapter + metrics.jsonl, loss falls; --eval-only reports it', async () => {
    const model = join(dir, 'llama');
    await writeTinyCheckpoint(model, { ...tiny, seed: 1 });
    const out = join(dir, 'out-lora');
    const r = await run(['--model', model, '--data', data, '--out', out, '--method', 'lora', ...common]);
    expect(r.code, r.out.join('\n')).toBe(0);
    expect(r.out.at(-1)).toMatch(/^trained lora adapter: 25 steps, final loss \d/);
    const m = await metrics(out);
    expect(m.map((x) => x.step)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(m.at(-1)!.loss).toBeLessThan(m[0]!.loss * 0.5);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors', 'metrics.jsonl']));
    const hdr = await readSafetensorsHeader(join(out, 'adapter_model.safetensors'));
    expect(hdr.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([4, 32]);
    expect(hdr.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')!.shape).toEqual([32, 4]);
    const cfg = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, base_model_name_or_path: 'llama' });

    // the trained adapter's eval loss is far below the base model's
    const base = await run(['--model', model, '--data', data, '--eval-only', '--out', join(dir, 'ev0'), '--seq-len', '48', '--threads', '1']);
    const tuned = await run(['--model', model, '--data', data, '--eval-only', '--out', join(dir, 'ev1'), '--init-adapter', out, '--seq-len', '48', '--threads', '1']);
    expect(base.code, base.out.join('\n')).toBe(0);
    const b = JSON.parse(base.out.at(-1)!).eval_loss;
    const t = JSON.parse(tuned.out.at(-1)!).eval_loss;
    expect(t).toBeLessThan(b * 0.5);
    expect((await loadAdapter(out)).tensors.size).toBe(2 * 7 * 2);
  });

  it('qlora on a sharded bf16 tied Qwen2 and Mistral checkpoint: loss falls too', async () => {
    for (const arch of ['Qwen2ForCausalLM', 'MistralForCausalLM'] as const) {
      const model = join(dir, arch);
      await writeTinyCheckpoint(model, { ...tiny, architecture: arch, dtype: 'bfloat16', sharded: true, tied: true, seed: 2 });
      const out = join(dir, `out-qlora-${arch}`);
      const r = await run(['--model', model, '--data', data, '--out', out, '--method', 'qlora', '--targets', 'q_proj,v_proj,down_proj', ...common]);
      expect(r.code, r.out.join('\n')).toBe(0);
      expect(r.out.at(-1)).toMatch(/trained qlora adapter: 25 steps.*base linear weights 0\.\d+× fp32/);
      const m = await metrics(out);
      expect(m.at(-1)!.loss).toBeLessThan(m[0]!.loss * 0.6);
      const cfg = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
      expect(cfg.target_modules).toEqual(['q_proj', 'v_proj', 'down_proj']);
    }
  });
});
