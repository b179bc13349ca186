import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAdapter, saveAdapter, loraTensorName, loraScale } from './peft.js';
import { readSafetensorsHeader } from './safetensors.js';
import type { HostTensor } from './tensor.js';
import { Rng } from '../data/rng.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function rand(shape: number[], rng: Rng): HostTensor {
  return { shape, data: Float32Array.from({ length: shape[0]! * shape[1]! }, () => rng.normal()) };
}

describe('PEFT adapter IO', () => {
  it('writes PEFT names, shapes and config and reloads bit-exactly', async () => {
    const d = await mkdtemp(join(tmpdir(), 'clara-peft-'));
    dirs.push(d);
    const rng = new Rng(3);
    const r = 4;
    const tensors = new Map<string, HostTensor>();
    for (let layer = 0; layer < 2; layer++) {
      tensors.set(loraTensorName(layer, 'q_proj', 'A'), rand([r, 64], rng));
      tensors.set(loraTensorName(layer, 'q_proj', 'B'), rand([64, r], rng));
      tensors.set(loraTensorName(layer, 'down_proj', 'A'), rand([r, 128], rng));
      tensors.set(loraTensorName(layer, 'down_proj', 'B'), rand([64, r], rng));
    }
    const spec = { r, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'down_proj'], useRslora: false, baseModel: 'demo-tiny-llama' };
    await saveAdapter(d, spec, tensors);

    const hdr = await readSafetensorsHeader(join(d, 'adapter_model.safetensors'));
    expect(hdr.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([4, 64]);
    expect(hdr.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!.shape).toEqual([64, 4]);
    expect(hdr.tensors.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')!.shape).toEqual([4, 128]);
    expect(hdr.tensors.size).toBe(8);
    const cfg = JSON.parse(await readFile(join(d, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['q_proj', 'down_proj'],
      base_model_name_or_path: 'demo-tiny-llama', bias: 'none', fan_in_fan_out: false, use_rslora: false,
    });

    const back = await loadAdapter(d);
    expect(back.spec).toEqual(spec);
    expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [k, t] of tensors) {
      expect(back.tensors.get(k)!.shape).toEqual(t.shape);
      expect(Buffer.from(back.tensors.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true);
    }
  });

  it('rejects bad adapters clearly', async () => {
    const d = await mkdtemp(join(tmpdir(), 'clara-peft-'));
    dirs.push(d);
    await expect(loadAdapter(d)).rejects.toThrow(/not a PEFT adapter directory/);
    const rng = new Rng(1);
    const only = new Map([[loraTensorName(0, 'v_proj', 'A'), rand([2, 8], rng)]]);
    await expect(saveAdapter(d, { r: 2, alpha: 4, dropout: 0, targetModules: ['v_proj'], useRslora: false, baseModel: 'x' }, only)).rejects.toThrow(/no matching lora_B/);
    expect(() => loraTensorName(0, 'lm_head', 'A')).toThrow(/unknown LoRA target/);
    expect(loraScale({ r: 16, alpha: 32, useRslora: false })).toBe(2);
    expect(loraScale({ r: 16, alpha: 32, useRslora: true })).toBe(8);
  });
});
