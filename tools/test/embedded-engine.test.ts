// The "done when", as a new user does it: `npm start` (embedded PGlite + in-process bus) creates
// demo-tiny-llama; a lora and a qlora job on it with a small JSONL dataset run over the WebSocket to `completed`
// with falling loss, and both adapters are in the registry. The real engine trains (child processes, built dist/).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { childScriptPath } from '@clara/engine/cli/train-process';
import { startEmbedded, type EmbeddedSuite } from '../src/start-embedded.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-embedded-engine-'));
let suite: EmbeddedSuite | undefined;

afterAll(async () => {
  await suite?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start with the real engine', () => {
  it('trains lora and qlora adapters on demo-tiny-llama and registers them', async () => {
    if (!existsSync(childScriptPath())) throw new Error(`${childScriptPath()} is missing: run \`npm run build\` first (npm test does)`);
    mkdirSync(join(dataDir, 'datasets'), { recursive: true });
    const rows = ['sky:blue', 'grass:green', 'snow:white', 'coal:black'].map((p) => {
      const [q, a] = p.split(':');
      return JSON.stringify({ instruction: `What colour is ${q}?`, output: `${a}` });
    });
    writeFileSync(join(dataDir, 'datasets', 'colours.jsonl'), rows.join('\n') + '\n');
    if (process.env.CLARA_TEST_TIMING) console.log('start', new Date().toISOString());
    suite = await startEmbedded({
      env: { CLARA_DATA_DIR: dataDir, CLARA_TRAINING_PORT: '0', DATABASE_URL: undefined, NATS_URL: undefined, CLARA_SECURITY_MODE: 'debug', LOG_LEVEL: 'error', CLARA_TRAIN_THREADS: '1' },
      services: ['training', 'worker'],
    });
    expect(readFileSync(join(dataDir, 'models', 'demo-tiny-llama', 'CLARA_DEMO_MODEL.md'), 'utf8')).toMatch(/RANDOM WEIGHTS/);
    const base = suite.services.training!.url!;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(base + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: await res.json() };
    };
    const messages: any[] = [];
    const ws = new WebSocket(base.replace('http', 'ws') + '/ws/training');
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe', all: true }));

    if (process.env.CLARA_TEST_TIMING) console.log('started', new Date().toISOString());
    const ids: string[] = [];
    for (const trainer of ['lora', 'qlora']) {
      const r = await call('POST', '/api/training/jobs', {
        trainer_type: trainer,
        base_model: 'demo-tiny-llama',
        dataset: 'datasets/colours.jsonl',
        hyperparameters: { max_steps: 25, learning_rate: 0.01, batch_size: 4, lora_rank: 4, lora_dropout: 0 },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ids.push(r.body.job_id);
    }
    const end = Date.now() + 150_000;
    while (!ids.every((id) => messages.some((m) => m.job_id === id && ['completed', 'failed'].includes(m.status)))) {
      if (Date.now() > end) throw new Error(`timed out: ${JSON.stringify(messages.slice(-3))}`);
      await sleep(100);
    }
    ws.close();
    for (const id of ids) {
      const mine = messages.filter((m) => m.job_id === id);
      const final = mine.find((m) => ['completed', 'failed'].includes(m.status));
      expect(final.status, JSON.stringify(final)).toBe('completed');
      if (process.env.CLARA_TEST_TIMING) console.log(mine.map((m) => `${m.timestamp} ${m.event} ${m.step ?? ''}`).join('\n'));
      const losses = mine.filter((m) => m.event === 'progress' && typeof m.loss === 'number').map((m) => m.loss as number);
      expect(losses.length).toBeGreaterThan(2);
      expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
    }
    const adapters = (await call('GET', '/api/adapters')).body.adapters;
    expect(ids.map((id) => adapters.find((a: { job_id: string }) => a.job_id === id)?.base_model)).toEqual(['demo-tiny-llama', 'demo-tiny-llama']);
  }, 240_000);
});
