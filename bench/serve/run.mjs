// Serving benchmark, all through the running service's HTTP API (OpenAI routes, SSE), in ONE run:
//   - decode tokens/s with 32 concurrent requests on the base model, on one adapter, and on 32 distinct adapters
//     (goal: distinct ≥ 0.8 × one adapter), each scenario repeated and interleaved, median reported;
//   - time to first token p50/p99 per scenario (client side: request sent → first SSE token chunk);
//   - rank-16 adapter hot-load time (POST /v1/load_lora_adapter round trip, and the server-side load histogram);
//   - failed requests while an adapter is hot-swapped repeatedly under 32 concurrent streams (goal: 0).
//
// Also, without HTTP: the decode step of the engine alone (32 rows, same three scenarios, interleaved rounds).
//
// Usage: node bench/serve/build.mjs && node bench/serve/run.mjs [--requests 32] [--tokens 64] [--rounds 3]
//        [--hidden 64] [--layers 2] [--threads 1] [--out bench/results/serve.json]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const { writeTinyCheckpoint } = await import(join(root, 'libs/engine/dist/io/tiny-checkpoint.js'));
const { saveAdapter, loraTensorName } = await import(join(root, 'libs/engine/dist/io/peft.js'));
const { randomLora } = await import(join(root, 'libs/engine/dist/inference/testing.js'));
const { bootstrap } = await import(join(root, 'apps/serving/dist/app.js'));
const { OnnxRunner } = await import(join(root, 'libs/engine/dist/inference/onnx-runner.js'));
const { loadCheckpoint } = await import(join(root, 'libs/engine/dist/io/checkpoint.js'));
const { createLogger } = await import(join(root, 'libs/platform/dist/index.js'));

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '32' },
    tokens: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    hidden: { type: 'string', default: '64' },
    layers: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1' },
    rank: { type: 'string', default: '16' },
    out: { type: 'string', default: join(root, 'bench/results/serve.json') },
  },
});
const N = Number(args.requests);
const TOKENS = Number(args.tokens);
const ROUNDS = Number(args.rounds);
const RANK = Number(args.rank);

const dir = await mkdtemp(join(tmpdir(), 'clara-bench-serve-'));
const modelsDir = join(dir, 'models');
const hidden = Number(args.hidden);
const config = await writeTinyCheckpoint(join(modelsDir, 'bench'), {
  hiddenSize: hidden,
  intermediateSize: Math.round(hidden * 2.75),
  numLayers: Number(args.layers),
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 512,
  maxPositionEmbeddings: 512,
  seed: 1,
  initStd: 0.1,
});

async function writeAdapter(path, seed) {
  const lora = randomLora(config, seed, RANK);
  const tensors = new Map();
  for (const [key, f] of lora.factors) {
    const [layer, module] = key.split('.');
    tensors.set(loraTensorName(Number(layer), module, 'A'), f.a);
    tensors.set(loraTensorName(Number(layer), module, 'B'), f.b);
  }
  await saveAdapter(path, { r: RANK, alpha: RANK, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], useRslora: false, baseModel: 'bench' }, tensors);
  return path;
}

const adapterDirs = [];
for (let i = 0; i < N + 2; i++) adapterDirs.push(await writeAdapter(join(dir, 'adapters', `a${i}`), 1000 + i));

const serving = await bootstrap({
  env: {
    CLARA_DATA_DIR: dir,
    CLARA_MODELS_DIR: modelsDir,
    CLARA_SERVING_BASE_MODEL: 'bench',
    CLARA_SECURITY_MODE: 'debug',
    CLARA_SERVING_REGISTRY: 'false',
    CLARA_SERVING_MAX_LORAS: String(N + 4),
    CLARA_SERVING_MAX_LORA_RANK: String(RANK),
    CLARA_SERVING_MAX_BATCH: String(Math.max(64, N)),
    CLARA_SERVING_THREADS: args.threads,
    LOG_LEVEL: 'error',
  },
  port: 0,
  host: '127.0.0.1',
  logger: createLogger('bench', { level: 'error' }),
});
const base = serving.url;

const post = (path, body) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

// --- hot-load time (rank-16 PEFT dir → slot), through the API
const loadMs = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const res = await post('/v1/load_lora_adapter', { lora_name: `a${i}`, lora_path: adapterDirs[i] });
  if (res.status !== 200) throw new Error(`load a${i}: ${res.status} ${await res.text()}`);
  await res.text();
  loadMs.push(performance.now() - t0);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);

/** One streaming completion; resolves with its token count, TTFT and whether it failed. */
async function stream(model, promptIds) {
  const t0 = performance.now();
  let ttft;
  let tokens = 0;
  let failed = false;
  try {
    const res = await post('/v1/completions', { model, prompt: promptIds, max_tokens: TOKENS, temperature: 0, stream: true, ignore_eos: true, stream_options: { include_usage: true } });
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
    const decoder = new TextDecoder();
    let buf = '';
    let done = false;
    for await (const part of res.body) {
      buf += decoder.decode(part, { stream: true });
      let at;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, at).trim();
        buf = buf.slice(at + 2);
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') {
          done = true;
          continue;
        }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (ttft === undefined && chunk.choices?.length) ttft = performance.now() - t0;
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
      }
    }
    if (!done || tokens !== TOKENS) throw new Error(`stream ended early (${tokens} tokens)`);
  } catch (err) {
    failed = true;
    if (!stream.logged) console.error('request failed:', err.message);
    stream.logged = true;
  }
  return { tokens, ttft, failed, ms: performance.now() - t0 };
}

const prompt = (i) => [1, ...Array.from({ length: 15 }, (_, k) => 3 + ((i * 31 + k * 7) % 500))];

async function scenario(modelOf) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: N }, (_, i) => stream(modelOf(i), prompt(i))));
  const wall = (performance.now() - t0) / 1000;
  const tokens = results.reduce((s, r) => s + r.tokens, 0);
  return { tokensPerSec: tokens / wall, ttfts: results.map((r) => r.ttft ?? NaN), failed: results.filter((r) => r.failed).length };
}

const scenarios = {
  base: () => 'bench',
  one_adapter: () => 'a0',
  distinct_adapters: (i) => `a${i}`,
};
await scenario(scenarios.base); // warm-up
const runs = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) for (const [name, modelOf] of Object.entries(scenarios)) runs[name].push(await scenario(modelOf));

// --- zero failures while hot-swapping under load
await post('/v1/load_lora_adapter', { lora_name: 'swap', lora_path: adapterDirs[N] }).then((r) => r.text());
const swapLoad = Array.from({ length: N }, (_, i) => stream('swap', prompt(i)));
let swaps = 0;
const swapMs = [];
const swapDone = Promise.all(swapLoad);
let finished = false;
swapDone.then(() => (finished = true));
while (!finished) {
  const t0 = performance.now();
  const res = await post('/v1/load_lora_adapter', { lora_name: 'swap', lora_path: adapterDirs[N + (swaps % 2)] });
  await res.text();
  if (res.status === 200) {
    swaps++;
    swapMs.push(performance.now() - t0);
  }
  await new Promise((r) => setTimeout(r, 20));
}
const swapResults = await swapDone;

// --- the engine's decode step alone (no HTTP, no tokenizer): same graphs, same slots layout
const engineRunner = await (async () => {
  const { weights } = await loadCheckpoint(join(modelsDir, 'bench'));
  const runner = await OnnxRunner.create(config, weights, { numSlots: N + 4, maxRank: RANK, intraOpThreads: Number(args.threads) });
  for (let i = 0; i < N; i++) runner.setSlot(1 + i, randomLora(config, 1000 + i, RANK));
  return runner;
})();
const stepMs = { base: [], one_adapter: [], distinct_adapters: [] };
const slotOf = { base: () => 0, one_adapter: () => 1, distinct_adapters: (i) => 1 + i };
for (let round = 0; round < 3 * ROUNDS; round++) {
  for (const name of Object.keys(stepMs)) {
    const caches = Array.from({ length: N }, () => engineRunner.newCache());
    await engineRunner.forward(caches.map((cache, i) => ({ tokens: prompt(i), cache, slot: slotOf[name](i) })));
    const t0 = performance.now();
    for (let step = 0; step < TOKENS; step++) await engineRunner.forward(caches.map((cache, i) => ({ tokens: [5 + (step % 100)], cache, slot: slotOf[name](i) })));
    stepMs[name].push((performance.now() - t0) / TOKENS);
  }
}
await engineRunner.dispose();

const metrics = await (await fetch(`${base}/metrics`)).text();
const serverLoad = /clara_serving_adapter_load_seconds_sum (\S+)\nclara_serving_adapter_load_seconds_count (\S+)/.exec(metrics);
await serving.close();
await rm(dir, { recursive: true, force: true });

const summary = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} (onnxruntime CPU, ${args.threads} intra-op thread)`,
  model: { hidden, layers: config.numLayers, heads: config.numHeads, kvHeads: config.numKvHeads, vocab: config.vocabSize },
  requests: N,
  maxTokens: TOKENS,
  rounds: ROUNDS,
  rank: RANK,
  scenarios: Object.fromEntries(
    Object.entries(runs).map(([name, rs]) => {
      const ttfts = rs.flatMap((r) => r.ttfts);
      return [name, { decodeTokensPerSec: median(rs.map((r) => r.tokensPerSec)), perRound: rs.map((r) => Math.round(r.tokensPerSec)), ttftP50Ms: pct(ttfts, 50), ttftP99Ms: pct(ttfts, 99), failed: rs.reduce((s, r) => s + r.failed, 0) }];
    }),
  ),
  hotLoad: {
    apiP50Ms: pct(loadMs, 50),
    apiP99Ms: pct(loadMs, 99),
    serverMeanMs: serverLoad ? (1000 * Number(serverLoad[1])) / Number(serverLoad[2]) : undefined,
  },
  swapUnderLoad: { swaps, swapP50Ms: pct(swapMs, 50), requests: swapResults.length, failed: swapResults.filter((r) => r.failed).length },
};
summary.engineDecodeStep = Object.fromEntries(
  Object.entries(stepMs).map(([name, xs]) => [name, { medianMs: median(xs), tokensPerSec: (N * 1000) / median(xs), perRoundMs: xs.map((x) => Number(x.toFixed(2))) }]),
);
summary.engineDistinctOverOne = summary.engineDecodeStep.distinct_adapters.tokensPerSec / summary.engineDecodeStep.one_adapter.tokensPerSec;
summary.distinctOverOne = summary.scenarios.distinct_adapters.decodeTokensPerSec / summary.scenarios.one_adapter.decodeTokensPerSec;
await mkdir(dirname(args.out), { recursive: true });
await writeFile(args.out, JSON.stringify(summary, null, 2));
console.log(JSON.stringify(summary, null, 2));
