/** Converts a PEFT adapter (as io/peft.ts loadAdapter returns it) into per-layer LoRA factors for the runners. */
import { loadAdapter, loraScale } from '../io/peft.js';
import type { HostTensor } from '../io/tensor.js';
import { LORA_MODULES, type LoraWeights } from './types.js';

const NAME = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$/;

export function toLoraWeights(
  spec: { r: number; alpha: number; useRslora: boolean },
  tensors: Map<string, HostTensor>,
  numLayers: number,
): LoraWeights {
  const factors = new Map<string, { a: HostTensor; b: HostTensor }>();
  const halves = new Map<string, { a?: HostTensor; b?: HostTensor }>();
  for (const [name, t] of tensors) {
    const m = NAME.exec(name);
    if (!m) continue;
    const [, layer, module, which] = m;
    if (Number(layer) >= numLayers) throw new Error(`adapter has layer ${layer}; the base model has ${numLayers}`);
    if (!(LORA_MODULES as readonly string[]).includes(module!)) throw new Error(`unsupported LoRA target ${module}`);
    const key = `${layer}.${module}`;
    const h = halves.get(key) ?? {};
    if (which === 'A') h.a = t;
    else h.b = t;
    halves.set(key, h);
  }
  for (const [key, h] of halves) {
    if (!h.a || !h.b) throw new Error(`adapter tensor pair ${key} is incomplete`);
    factors.set(key, { a: h.a, b: h.b });
  }
  if (factors.size === 0) throw new Error('adapter has no LoRA tensors');
  return { rank: spec.r, scale: loraScale(spec), factors };
}

/** Reads a PEFT directory and checks it against the base model's layer sizes. */
export async function loadLoraWeights(dir: string, numLayers: number): Promise<LoraWeights> {
  const { spec, tensors } = await loadAdapter(dir);
  return toLoraWeights(spec, tensors, numLayers);
}
