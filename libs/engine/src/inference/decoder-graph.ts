/**
 * The inference graph of a Llama-family decoder with a KV cache, built with the engine's own DecoderBuilder
 * (model/llama.ts) — the same layers, rotary, GQA attention and lm_head the trainer uses; inference only adds:
 *
 * - KV cache (through the builder's KvHook, whose layout is kv-head-major): per layer, padded past keys/values
 *   [kvH, B, P, hd] come in as inputs, are concatenated with the new ones, and the new keys/values [kvH, B, T, hd] go
 *   out (the runner appends them to each row's cache). An additive attention bias [B, nRep*T, P+T] encodes causality
 *   and each row's own past length.
 * - Per-row positions: the rotary tables come in per row, cos/sin [B, T, hd] (and the 1/sqrt(hd)-scaled q tables
 *   [B, 1, T, hd]), so rows at different positions share one step.
 * - Multi-LoRA (Punica-style gather-matmul): `MultiLoraDecoderBuilder.linear` adds, for every target linear, stacked
 *   adapter factors A [S, in, R] and B [S, R, out] as graph inputs (slot 0 = zeros = base model; B pre-scaled by
 *   alpha/r); each row gathers its own slot by `adapter_slot` [B] and adds x·A·B. One pass for a batch that mixes
 *   adapters; factors are inputs, so loading an adapter is a memory copy, not a graph rebuild.
 */
import { Graph } from '../graph/ir.js';
import * as op from '../graph/ops.js';
import type { ModelConfig } from '../io/hf-config.js';
import { DecoderBuilder, type DecoderOptions, type LinearModule } from '../model/llama.js';
import { LORA_MODULES, type DecoderConfig, type LoraModule, type Tensor } from './types.js';

export interface DecoderGraphOptions {
  /** Add per-row stacked LoRA inputs (false = plain base model graph). */
  lora: boolean;
  numSlots: number;
  maxRank: number;
}

export const ATTN_MODULES = new Set<LoraModule>(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

export function moduleDims(c: DecoderConfig, m: LoraModule): { in: number; out: number } {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  switch (m) {
    case 'q_proj':
      return { in: c.hiddenSize, out: q };
    case 'k_proj':
    case 'v_proj':
      return { in: c.hiddenSize, out: kv };
    case 'o_proj':
      return { in: q, out: c.hiddenSize };
    case 'gate_proj':
    case 'up_proj':
      return { in: c.hiddenSize, out: c.intermediateSize };
    case 'down_proj':
      return { in: c.intermediateSize, out: c.hiddenSize };
  }
}

export const loraInputName = (layer: number, m: LoraModule, which: 'a' | 'b') => `lora_${which}.${layer}.${m}`;

/** The engine's decoder with one more term per linear: this row's adapter slot, gathered from stacked factors. */
class MultiLoraDecoderBuilder extends DecoderBuilder {
  /** x [B*T, in] viewed as [B, T, in], shared by the linears that read the same x. */
  private readonly perRow = new Map<string, string>();
  constructor(
    g: Graph,
    o: DecoderOptions,
    private readonly multi: { numSlots: number; maxRank: number; slot: string; rowsByTokens: string } | null,
  ) {
    super(g, o);
  }

  override linear(x: string, layer: number, module: LinearModule): string {
    return this.withSlots(x, layer, module, super.linear(x, layer, module));
  }

  /** The builder computes q/k/v and gate/up as one stacked GEMM; each output still gets its own per-row adapter term. */
  override linearGroup(x: string, layer: number, modules: LinearModule[]): string[] {
    return super.linearGroup(x, layer, modules).map((y, i) => this.withSlots(x, layer, modules[i]!, y));
  }

  private withSlots(x: string, layer: number, module: LinearModule, y: string): string {
    if (!this.multi) return y;
    const g = this.g;
    const d = moduleDims(this.o.config, module);
    const R = this.multi.maxRank;
    const A = g.input(loraInputName(layer, module, 'a'), 'float32', [this.multi.numSlots, d.in, R]);
    const B = g.input(loraInputName(layer, module, 'b'), 'float32', [this.multi.numSlots, R, d.out]);
    const rowA = op.gather(g, A, this.multi.slot); // [B, in, R]
    const rowB = op.gather(g, B, this.multi.slot); // [B, R, out]
    // activations are [B*T, in] in the builder; view them per row to multiply by that row's factors
    let x3 = this.perRow.get(x);
    if (!x3) this.perRow.set(x, (x3 = op.reshapeTo(g, x, op.concat(g, [this.multi.rowsByTokens, g.ints([d.in])], 0), ['B', 'T', d.in])));
    const delta = op.matmul(g, op.matmul(g, x3, rowA), rowB); // [B, T, out]
    return op.add(g, y, op.reshape(g, delta, [-1, d.out], [g.shape(y)[0]!, d.out]));
  }
}

export interface DecoderGraph {
  graph: Graph;
  /** Output names: per layer the new keys / values [kvH, B, T, hd], and logits [B*T, V]. */
  keyOutputs: string[];
  valueOutputs: string[];
  logitsOutput: string;
}

export function buildDecoderGraph(c: ModelConfig, weights: Map<string, Tensor>, o: DecoderGraphOptions): DecoderGraph {
  const g = new Graph(o.lora ? 'clara_decoder_multi_lora' : 'clara_decoder', 'float32');
  const kvH = c.numKvHeads;
  const hd = c.headDim;
  const inputIds = g.input('input_ids', 'int64', ['B', 'T']);
  const slot = o.lora ? g.input('adapter_slot', 'int64', ['B']) : '';
  const io = {
    inputIds,
    cos: g.input('cos', 'float32', ['B', 'T', hd]),
    sin: g.input('sin', 'float32', ['B', 'T', hd]),
    cosQ: g.input('cos_q', 'float32', ['B', 1, 'T', hd]),
    sinQ: g.input('sin_q', 'float32', ['B', 1, 'T', hd]),
    // symbolic dims spelled as the builder derives them (nRep*T query rows, 0+P+T keys after the concat)
    attnBias: g.input('attn_bias', 'float32', ['B', `${c.numHeads / kvH}*T`, '0+P+T']),
    batch: 'B',
    seq: 'T',
  };
  const keyOutputs: string[] = [];
  const valueOutputs: string[] = [];
  const kv = (layer: number, k: string, v: string) => {
    keyOutputs.push(op.identity(g, k));
    valueOutputs.push(op.identity(g, v));
    g.output(keyOutputs[layer]!);
    g.output(valueOutputs[layer]!);
    const pastK = g.input(`past_key.${layer}`, 'float32', [kvH, 'B', 'P', hd]);
    const pastV = g.input(`past_value.${layer}`, 'float32', [kvH, 'B', 'P', hd]);
    return { k: op.concat(g, [pastK, k], 2), v: op.concat(g, [pastV, v], 2), kvLen: 'P+T' };
  };
  const builder = new MultiLoraDecoderBuilder(
    g,
    { config: c, weights, kv },
    o.lora ? { numSlots: o.numSlots, maxRank: o.maxRank, slot, rowsByTokens: op.shapeOf(g, inputIds) } : null,
  );
  const logits = builder.lmHead(builder.decoder(io));
  g.output(logits);
  return { graph: g, keyOutputs, valueOutputs, logitsOutput: logits };
}

export { LORA_MODULES };
