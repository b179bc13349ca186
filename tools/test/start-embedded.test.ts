// `npm start` as a new user meets it: embedded PGlite + in-process bus, training API + worker in one process;
// accept, queue, run, cancel, stream events, and keep jobs across a restart of the whole suite.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { registerTrainer } from '@clara/training-worker';
import type { TrainerRunner } from '@clara/contracts';
import { startEmbedded, type EmbeddedSuite } from '../src/start-embedded.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-embedded-'));
const env = {
  CLARA_DATA_DIR: dataDir,
  CLARA_TRAINING_PORT: '0',
  DATABASE_URL: undefined,
  NATS_URL: undefined,
  CLARA_SECURITY_MODE: 'debug',
  LOG_LEVEL: 'error',
  CLARA_PROGRESS_INTERVAL_MS: '0',
};
const steps: TrainerRunner = {
  async run(job, ctx) {
    const total = (job.hyperparameters.max_steps as number) ?? 3;
    for (let s = 1; s <= total; s++) {
      await sleep(20);
      ctx.report({ kind: 'progress', step: s, totalSteps: total, loss: 1 / s });
      if (ctx.shouldStop()) return { stopped: true };
    }
    return { steps: total };
  },
};
const undo = [registerTrainer('lora', steps)];
let suite: EmbeddedSuite | undefined;

afterAll(async () => {
  await suite?.close();
  undo.forEach((u) => u());
  rmSync(dataDir, { recursive: true, force: true });
});

const base = () => suite!.services.training!.url!;
async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(base() + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: (await res.json()) as any };
}
async function until<T>(fn: () => Promise<T | false | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}
const job = { trainer_type: 'lora', base_model: 'demo-tiny-llama', dataset: 'dsv_demo', hyperparameters: { max_steps: 3 } };

describe('embedded suite (npm start)', () => {
  it('runs a job end to end with live events, cancels, and keeps jobs across a restart', async () => {
    suite = await startEmbedded({ env, services: ['training', 'worker'] });
    const health = await call('GET', '/health');
    expect(health.body).toMatchObject({ status: 'healthy', checks: { database: { ok: true, embedded: true }, bus: { ok: true, kind: 'in-process' } } });

    const messages: any[] = [];
    const ws = new WebSocket(base().replace('http', 'ws') + '/ws/training');
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe', all: true }));
    await until(async () => messages.some((m) => m.type === 'subscribed'));

    const created = await call('POST', '/api/training/jobs', job);
    expect(created).toMatchObject({ status: 201 });
    const id = created.body.job_id;
    await until(async () => messages.some((m) => m.job_id === id && m.status === 'completed'));
    const seqs = messages.filter((m) => m.job_id === id).map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_: number, i: number) => i + 1));
    ws.close();

    const long = (await call('POST', '/api/training/jobs', { ...job, hyperparameters: { max_steps: 100000 } })).body.job_id;
    await until(async () => (await call('GET', `/api/training/jobs/${long}`)).body.status === 'running');
    expect((await call('DELETE', `/api/training/jobs/${long}`)).body.status).toBe('cancelling');
    await until(async () => (await call('GET', `/api/training/jobs/${long}`)).body.status === 'cancelled');

    await suite.close();
    suite = await startEmbedded({ env, services: ['training'] });
    const after = await call('GET', `/api/training/jobs/${id}`);
    expect(after.body).toMatchObject({ job_id: id, status: 'completed', progress_percent: 100 });
    const queued = await call('POST', '/api/training/jobs', job);
    expect(queued.body.status).toBe('pending');
  }, 180_000);
});

describe('npm start as a process', () => {
  it('stops cleanly on SIGTERM: every service closes and both embedded databases are released', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clara-embedded-signal-'));
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      CLARA_DATA_DIR: dir,
      CLARA_TRAINING_PORT: '0',
      CLARA_DATASETS_PORT: '0',
      CLARA_SERVING_PORT: '0',
      CLARA_SECURITY_MODE: 'debug',
      LOG_LEVEL: 'info',
    };
    delete childEnv.DATABASE_URL;
    delete childEnv.NATS_URL;
    const script = join(dirname(fileURLToPath(import.meta.url)), '../dist/start-embedded.js');
    const child = spawn(process.execPath, [script], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let output = '';
      await new Promise<void>((ready, fail) => {
        const timer = setTimeout(() => fail(new Error(`not running after 120 s:\n${output.slice(-2000)}`)), 120_000);
        const watch = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('CLARA is running')) {
            clearTimeout(timer);
            ready();
          }
        };
        child.stdout.on('data', watch);
        child.stderr.on('data', watch);
        child.once('exit', (code) => fail(new Error(`exited with ${code} before running:\n${output.slice(-2000)}`)));
      });
      expect(existsSync(join(dir, 'pg', 'clara.pid'))).toBe(true);
      expect(existsSync(join(dir, 'pg-vectors', 'clara.pid'))).toBe(true);
      const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
      child.kill('SIGTERM');
      // exit code 0 from our own shutdown, not death by the signal: the databases were closed and their locks removed
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(existsSync(join(dir, 'pg', 'clara.pid'))).toBe(false);
      expect(existsSync(join(dir, 'pg-vectors', 'clara.pid'))).toBe(false);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
