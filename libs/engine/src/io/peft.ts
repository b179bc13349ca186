import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors, type WritableTensor } from './safetensors.js';
import type { HostTensor } from './tensor.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const DEFAULT_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
const ATTN = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj']);
const MLP = new Set(['gate_proj', 'up_proj', 'down_proj']);
const PEFT_PREFIX = 'base_model.model.';

export interface LoraSpec {
  r: number;
  alpha: number;
  dropout: number;
  targetModules: string[];
  useRslora: boolean;
}

/** The HF module path of a target in layer `layer`, e.g. model.layers.0.self_attn.q_proj. */
export function loraModuleName(layer: number, target: string): string {
  if (ATTN.has(target)) return `model.layers.${layer}.self_attn.${target}`;
  if (MLP.has(target)) return `model.layers.${layer}.mlp.${target}`;
  throw new Error(`unknown LoRA target module ${JSON.stringify(target)}; valid: ${DEFAULT_TARGETS.join(', ')}`);
}

/**
 * Adapter tensors are keyed `<module>.lora_A.weight` / `<module>.lora_B.weight` with the HF module path
 * (e.g. `model.layers.0.self_attn.q_proj.lora_A.weight`, [r, in]; lora_B [out, r]); on disk PEFT prefixes `base_model.model.`.
 */
export function loraTensorName(layer: number, target: string, which: 'A' | 'B'): string {
  return `${loraModuleName(layer, target)}.lora_${which}.weight`;
}

export function toPeftName(name: string): string {
  return name.startsWith(PEFT_PREFIX) ? name : PEFT_PREFIX + name;
}

export function fromPeftName(name: string): string {
  return name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : name;
}

export function loraScale(spec: Pick<LoraSpec, 'r' | 'alpha' | 'useRslora'>): number {
  return spec.useRslora ? spec.alpha / Math.sqrt(spec.r) : spec.alpha / spec.r;
}

/** The adapter_config.json PEFT's LoraConfig writes, with our values. */
export function peftAdapterConfig(spec: LoraSpec & { baseModel: string }): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: spec.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...spec.targetModules],
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: spec.useRslora,
  };
}

function checkPairs(tensors: Map<string, HostTensor>, r: number, where: string): void {
  for (const [name, t] of tensors) {
    const m = /^(.*)\.lora_([AB])\.weight$/.exec(name);
    if (!m) throw new Error(`${where}: unexpected adapter tensor ${name}`);
    const other = tensors.get(`${m[1]}.lora_${m[2] === 'A' ? 'B' : 'A'}.weight`);
    if (!other) throw new Error(`${where}: ${name} has no matching lora_${m[2] === 'A' ? 'B' : 'A'}`);
    const rankDim = m[2] === 'A' ? t.shape[0] : t.shape[1];
    if (t.shape.length !== 2 || rankDim !== r) throw new Error(`${where}: ${name} has shape [${t.shape}], rank must be ${r}`);
  }
}

/** Writes a PEFT LoRA adapter directory (fp32 tensors, so a reload is bit-exact). */
export async function saveAdapter(dir: string, spec: LoraSpec & { baseModel: string }, tensors: Map<string, HostTensor>): Promise<void> {
  const short = new Map([...tensors].map(([k, v]) => [fromPeftName(k), v]));
  checkPairs(short, spec.r, dir);
  await mkdir(dir, { recursive: true });
  const out = new Map<string, WritableTensor>();
  for (const [name, t] of short) out.set(toPeftName(name), { dtype: 'F32', shape: t.shape, data: t.data });
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), out, { format: 'pt' });
  await writeFile(join(dir, ADAPTER_CONFIG), JSON.stringify(peftAdapterConfig(spec), null, 2) + '\n');
}

/** Reads a PEFT LoRA adapter; tensor names come back without the `base_model.model.` prefix. */
export async function loadAdapter(dir: string): Promise<{ spec: LoraSpec & { baseModel: string }; tensors: Map<string, HostTensor> }> {
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG), 'utf8'));
  } catch (err) {
    throw new Error(`${dir} is not a PEFT adapter directory: cannot read ${ADAPTER_CONFIG} (${(err as Error).message})`);
  }
  if (cfg.peft_type !== 'LORA') throw new Error(`${dir}: peft_type ${JSON.stringify(cfg.peft_type)} is not LORA`);
  if (cfg.use_dora === true) throw new Error(`${dir}: DoRA adapters are not supported`);
  if (cfg.fan_in_fan_out === true) throw new Error(`${dir}: fan_in_fan_out adapters are not supported`);
  if (typeof cfg.r !== 'number' || !Number.isInteger(cfg.r) || cfg.r <= 0) throw new Error(`${dir}: adapter_config r must be a positive integer`);
  if (typeof cfg.lora_alpha !== 'number') throw new Error(`${dir}: adapter_config lora_alpha must be a number`);
  const targets = typeof cfg.target_modules === 'string' ? [cfg.target_modules] : cfg.target_modules;
  if (!Array.isArray(targets)) throw new Error(`${dir}: adapter_config target_modules must be a list`);
  const raw = await readSafetensors(join(dir, ADAPTER_WEIGHTS)).catch((err: Error) => {
    throw new Error(`${dir}: cannot read ${ADAPTER_WEIGHTS} (${err.message})`);
  });
  const tensors = new Map([...raw].map(([k, v]) => [fromPeftName(k), v]));
  checkPairs(tensors, cfg.r, dir);
  return {
    spec: {
      r: cfg.r,
      alpha: cfg.lora_alpha,
      dropout: typeof cfg.lora_dropout === 'number' ? cfg.lora_dropout : 0,
      targetModules: targets as string[],
      useRslora: cfg.use_rslora === true,
      baseModel: typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : '',
    },
    tensors,
  };
}
