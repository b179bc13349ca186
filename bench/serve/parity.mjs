// Runs CLARA's inference graphs (prefill + step-by-step decode with the KV cache; a base row and an adapter row in the
// same batch) on tiny checkpoints of each architecture and compares every logit with PyTorch (bench/serve/parity.py,
// Debian python3-torch; benchmark only). Usage: node bench/serve/build.mjs && node bench/serve/parity.mjs
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const { writeTinyCheckpoint } = await import(join(root, 'libs/engine/dist/io/tiny-checkpoint.js'));
const { loadCheckpoint } = await import(join(root, 'libs/engine/dist/io/checkpoint.js'));
const { saveAdapter, loraTensorName } = await import(join(root, 'libs/engine/dist/io/peft.js'));
const { OnnxRunner, loadLoraWeights, argmax } = await import(join(root, 'libs/engine/dist/inference/index.js'));
const { randomLora } = await import(join(root, 'libs/engine/dist/inference/testing.js'));

const variants = [
  ['llama gqa', { architecture: 'LlamaForCausalLM' }],
  ['llama tied bf16 sharded', { architecture: 'LlamaForCausalLM', tied: true, dtype: 'bfloat16', sharded: true }],
  ['mistral', { architecture: 'MistralForCausalLM' }],
  ['qwen2 tied (q/k/v bias)', { architecture: 'Qwen2ForCausalLM', tied: true }],
];
const dir = await mkdtemp(join(tmpdir(), 'clara-serve-parity-'));
const cases = [];
try {
  for (const [name, o] of variants) {
    const modelDir = join(dir, name.replace(/\W+/g, '_'));
    const config = await writeTinyCheckpoint(modelDir, { hiddenSize: 64, intermediateSize: 160, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 300, seed: 3, initStd: 0.2, ...o });
    const adapterDir = join(modelDir, 'adapter');
    const lora = randomLora(config, 9, 8);
    const tensors = new Map();
    for (const [key, f] of lora.factors) {
      const [layer, module] = key.split('.');
      tensors.set(loraTensorName(Number(layer), module, 'A'), f.a);
      tensors.set(loraTensorName(Number(layer), module, 'B'), f.b);
    }
    await saveAdapter(adapterDir, { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], useRslora: false, baseModel: name }, tensors);
    const { weights } = await loadCheckpoint(modelDir);
    const runner = await OnnxRunner.create(config, weights, { numSlots: 2, maxRank: 8 });
    runner.setSlot(1, await loadLoraWeights(adapterDir, config.numLayers));
    // two rows, different prompt lengths, one with the adapter: prefill together, then greedy decode together
    const rows = [
      { sequence: [1, 17, 42, 99, 7, 250, 31], slot: 0 },
      { sequence: [1, 5, 6, 200], slot: 1 },
    ].map((r) => ({ ...r, cache: runner.newCache(), logits: [] }));
    const pre = await runner.forward(rows.map((r) => ({ tokens: r.sequence, cache: r.cache, slot: r.slot })), { allPositions: true });
    rows.forEach((r, i) => r.logits.push(...pre[i]));
    for (let step = 0; step < 5; step++) {
      const next = rows.map((r) => argmax(r.logits.slice(-config.vocabSize)));
      const out = await runner.forward(rows.map((r, i) => ({ tokens: [next[i]], cache: r.cache, slot: r.slot })));
      rows.forEach((r, i) => {
        r.sequence.push(next[i]);
        r.logits.push(...out[i]);
      });
    }
    await runner.dispose();
    cases.push({ name, modelDir, rows: rows.map((r) => ({ sequence: r.sequence, adapterDir: r.slot ? adapterDir : null, logits: r.logits })) });
  }
  const dump = join(dir, 'dump.json');
  await writeFile(dump, JSON.stringify({ cases }));
  const py = spawnSync('/usr/bin/python3', [join(here, 'parity.py'), dump], { stdio: 'inherit' });
  process.exitCode = py.status ?? 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
