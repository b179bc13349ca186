// LoRA training throughput: CLARA (ONNX Runtime graphs) vs PyTorch on CPU, same model, same run.
// Usage: npm run build && node bench/train/run.mjs [--steps 6] [--skip-torch]
// PyTorch side needs Debian python3-torch + libopenblas0-pthread (benchmark only, not a product dependency).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const engine = await import(join(here, '../../libs/engine/dist/index.js'));
const { writeTinyCheckpoint } = await import(join(here, '../../libs/engine/dist/io/tiny-checkpoint.js'));

const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const steps = Number(arg('steps', '6'));
const threads = Number(arg('threads', '2'));
const skipTorch = process.argv.includes('--skip-torch');
const shape = { hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, intermediateSize: 688, vocabSize: 4096 };
const seq = 256;
const batch = 4;
const rank = 16;

// forward + input-gradient backward of the frozen model, per token (LoRA and optimizer excluded)
function flopsPerToken() {
  const h = shape.hiddenSize;
  const d = h / shape.numHeads;
  const kv = shape.numKvHeads * d;
  const perLayer = h * h + 2 * h * kv + h * h + 3 * h * shape.intermediateSize + 2 * shape.numHeads * d * seq; // MACs (causal attention done as full T×T)
  const macs = shape.numLayers * perLayer + h * shape.vocabSize;
  return 2 * 2 * macs; // 2 FLOP per MAC, forward + backward(dX)
}

const root = await mkdtemp(join(tmpdir(), 'clara-bench-train-'));
try {
  const modelDir = join(root, 'model');
  await writeTinyCheckpoint(modelDir, { architecture: 'LlamaForCausalLM', ...shape, seed: 1, initStd: 0.02 });
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % (shape.vocabSize - 10)) + 10;
  const rows = Array.from({ length: batch * (steps + 2) }, () => {
    const ids = Array.from({ length: seq }, rnd);
    return JSON.stringify({ input_ids: ids, labels: ids });
  });
  const data = join(root, 'data.jsonl');
  await writeFile(data, rows.join('\n') + '\n');
  const load0 = loadavg()[0];
  const reports = [];
  const opts = {
    modelDir, dataPath: data, outDir: join(root, 'out'), method: 'lora', optimizer: 'adamw', lr: 1e-4, weightDecay: 0,
    steps: steps + 2, batchSize: batch, gradAccum: 1, seqLen: seq, rank, alpha: 32, dropout: 0,
    targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], maxGradNorm: 1, seed: 1,
    scheduler: 'constant', warmupSteps: 0, packing: false, threads,
  };
  const t0 = Date.now();
  await engine.train(opts, { onStep: (r) => reports.push({ ...r, at: Date.now() }) });
  const measured = reports.slice(2); // the first two runs of a session are warm-up (allocation, pre-packing)
  const secs = (measured.at(-1).at - reports[1].at) / 1000;
  const claraTps = (measured.length * batch * seq) / secs;
  const q = await engine.train({ ...opts, method: 'qlora', steps: 1, outDir: join(root, 'outq') });
  const result = {
    date: new Date().toISOString(),
    cpu: `${cpus()[0]?.model} ×${cpus().length}`,
    loadavgBefore: load0,
    loadavgAfter: loadavg()[0],
    model: { ...shape, seq, batch, rank, targets: 7 },
    clara: { tokensPerSec: Math.round(claraTps), intraOpThreads: threads, steps: measured.length, totalSec: (Date.now() - t0) / 1000 },
    flopsPerToken: flopsPerToken(),
    qlora: { baseWeightBytes: q.baseWeightBytes.stored, fp32Bytes: q.baseWeightBytes.fp32, ratio: +(q.baseWeightBytes.stored / q.baseWeightBytes.fp32).toFixed(4) },
  };
  result.clara.gflops = +((claraTps * result.flopsPerToken) / 1e9).toFixed(1);
  result.clara.fractionOfPeak200 = +(result.clara.gflops / 200).toFixed(3);
  if (!skipTorch) {
    // PyTorch gets its best of a few thread settings, measured now (the cores are shared, so the best one moves).
    const settings = [
      { intra: 1, blas: 2 },
      { intra: 1, blas: 1 },
      { intra: 2, blas: 1 },
    ];
    result.torch = [];
    for (const st of settings) {
      const r = spawnSync(process.env.BENCH_PYTHON ?? '/usr/bin/python3', [join(here, 'torch_train.py'), '--steps', String(steps), '--threads', String(st.intra)], {
        env: { ...process.env, OPENBLAS_NUM_THREADS: String(st.blas), OMP_NUM_THREADS: String(st.intra) },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`torch benchmark failed: ${r.stderr}`);
      result.torch.push({ ...JSON.parse(r.stdout.trim().split('\n').at(-1)), openblasThreads: st.blas });
    }
    const best = Math.max(...result.torch.map((t) => t.tokensPerSec));
    result.torchBestTokensPerSec = best;
    result.ratio = +(claraTps / best).toFixed(2);
    result.loadavgAfterTorch = loadavg()[0];
  }
  console.log(JSON.stringify(result, null, 2));
} finally {
  await rm(root, { recursive: true, force: true });
}
