// Runs the issue's outside check locally: one `--optimizer sgd --lr 1 --steps 1 --batch-size 1 --dropout 0
// --max-grad-norm 0` step from an init adapter on pre-tokenized data, then compares loss and LoRA gradients with
// bench/train/torch_model.py. Needs python3-torch (benchmark only). Usage: npm run build && node bench/train/parity.mjs
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const engine = await import(join(here, '../../libs/engine/dist/index.js'));
const { writeTinyCheckpoint } = await import(join(here, '../../libs/engine/dist/io/tiny-checkpoint.js'));
const { saveAdapter } = await import(join(here, '../../libs/engine/dist/io/peft.js'));

const variants = [
  ['llama', { architecture: 'LlamaForCausalLM' }],
  ['llama tied bf16 sharded', { architecture: 'LlamaForCausalLM', tied: true, dtype: 'bfloat16', sharded: true }],
  ['mistral', { architecture: 'MistralForCausalLM' }],
  ['qwen2 tied', { architecture: 'Qwen2ForCausalLM', tied: true }],
];
const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const root = await mkdtemp(join(tmpdir(), 'clara-parity-'));
let failed = false;
try {
  for (const [name, o] of variants) {
    const dir = join(root, name.replace(/\W+/g, '_'));
    const config = await writeTinyCheckpoint(join(dir, 'model'), { hiddenSize: 64, intermediateSize: 160, numLayers: 2, numHeads: 4, numKvHeads: 2, vocabSize: 300, seed: 3, initStd: 0.1, ...o });
    let s = 7;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    const tensors = new Map();
    for (const p of engine.loraParams(config, 8, targets)) tensors.set(p.name, { shape: p.shape, data: Float32Array.from({ length: p.shape[0] * p.shape[1] }, () => 0.1 * rnd()) });
    await saveAdapter(join(dir, 'init'), { r: 8, alpha: 16, dropout: 0, targetModules: targets, useRslora: false, baseModel: 'model' }, tensors);
    const ids = Array.from({ length: 24 }, (_, i) => 5 + ((i * 37) % 290));
    const labels = ids.map((t, i) => (i < 6 ? -100 : t));
    await writeFile(join(dir, 'data.jsonl'), JSON.stringify({ input_ids: ids, labels }) + '\n');
    let loss;
    await engine.train(
      { modelDir: join(dir, 'model'), dataPath: join(dir, 'data.jsonl'), outDir: join(dir, 'out'), method: 'lora', initAdapter: join(dir, 'init'),
        optimizer: 'sgd', lr: 1, weightDecay: 0, steps: 1, batchSize: 1, gradAccum: 1, seqLen: 64, rank: 8, alpha: 16, dropout: 0, targets,
        maxGradNorm: 0, seed: 1, scheduler: 'linear', warmupSteps: 0, packing: false },
      { onStep: (r) => (loss = r.loss) },
    );
    const r = spawnSync(process.env.BENCH_PYTHON ?? '/usr/bin/python3', [join(here, 'parity.py'), join(dir, 'model'), join(dir, 'init'), join(dir, 'out'), join(dir, 'data.jsonl'), String(loss)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(r.stderr);
    const res = JSON.parse(r.stdout.trim());
    const ok = res.lossRelErr < 1e-4 && res.gradMaxRelErr < 1e-4;
    failed ||= !ok;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${JSON.stringify(res)}`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
