// Test support for e2e tests: a test trainer (registered from test code, as the issue allows), a WebSocket
// client that records messages, and HTTP helpers.
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { TrainerRunner, JobUpdateMessage } from '@clara/contracts';
import { TEST_NATS_URL } from '@clara/platform/testing';

export { sleep };

/** The environment an e2e test boots the training API and worker with: real PostgreSQL and NATS, debug auth, port 0. */
export function e2eEnv(databaseUrl: string, dataDir: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    NATS_URL: TEST_NATS_URL,
    CLARA_DATA_DIR: dataDir,
    CLARA_TRAINING_PORT: '0',
    CLARA_TRAINING_HOST: '127.0.0.1',
    CLARA_SECURITY_MODE: 'debug',
    DEBUG_USER_EMAIL: 'e2e@clara.local',
    DEBUG_USER_ROLES: 'admin,trainer',
    LOG_LEVEL: 'error',
    CLARA_MAX_CONCURRENT_JOBS: '2',
    CLARA_SWEEP_INTERVAL_MS: '500',
    CLARA_PROGRESS_INTERVAL_MS: '0',
    ...overrides,
  };
}

/** Stops an e2e test's stack in dependency order (worker, API, bus, database) and removes its data; absent parts are skipped. */
export async function closeStack(s: {
  worker?: { close(): Promise<void> };
  api?: { close(): Promise<void> };
  bus?: { close(): Promise<void> };
  shared?: { release(): Promise<void> };
  db?: { drop(): Promise<void> };
  dataDir: string;
}): Promise<void> {
  await s.worker?.close();
  await s.api?.close();
  await s.bus?.close();
  await s.shared?.release();
  await s.db?.drop();
  rmSync(s.dataDir, { recursive: true, force: true });
}

/**
 * A small trainer for queue tests: `steps` steps of `stepMs` each (a timer, so the event loop stays free),
 * progress every step, a checkpoint every `checkpointEvery`, honours shouldStop() and the abort signal.
 */
export function stepTrainer(opts: { steps?: number; stepMs?: number; checkpointEvery?: number; onRun?: (jobId: string, attempt: number) => void } = {}): TrainerRunner {
  const steps = opts.steps ?? 5;
  const stepMs = opts.stepMs ?? 20;
  const every = opts.checkpointEvery ?? 2;
  return {
    async run(job, ctx) {
      opts.onRun?.(job.id, job.attempt);
      const total = (job.hyperparameters.max_steps as number | undefined) ?? steps;
      for (let step = 1; step <= total; step++) {
        if (ctx.signal.aborted) throw new Error('aborted');
        await sleep(stepMs);
        ctx.report({ kind: 'progress', step, totalSteps: total, epoch: 1, totalEpochs: 1, loss: 2 / step, lr: 1e-3, etaSec: ((total - step) * stepMs) / 1000 });
        if (step % every === 0) ctx.report({ kind: 'checkpoint', step, dir: `${ctx.jobDir}/checkpoints/step-${step}` });
        if (ctx.shouldStop()) return { stopped: true, steps: step };
      }
      return { finalLoss: 2 / total, steps: total };
    },
  };
}

export class WsClient {
  readonly messages: any[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.messages.push(JSON.parse(d.toString()));
      this.waiters.splice(0).forEach((w) => w());
    });
    ws.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static connect(url: string, protocols?: string[]): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      const client = new WsClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
  }

  send(msg: object) {
    this.ws.send(JSON.stringify(msg));
  }

  updates(jobId?: string): JobUpdateMessage[] {
    return this.messages.filter((m) => m.type === 'job_update' && (!jobId || m.job_id === jobId));
  }

  async waitFor<T>(pred: (c: WsClient) => T | undefined | false, ms = 15_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = pred(this);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  close() {
    this.ws.close();
  }
}

export async function http(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, body: json, headers: res.headers };
}

export async function waitUntil<T>(fn: () => Promise<T | undefined | false>, ms = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
