// Durability across a NATS restart, on a private nats-server (so the shared one other tests use is untouched):
// jobs accepted while NATS is down are not lost, /health names the bus, and the outbox relay publishes every
// event once NATS is back, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, AckPolicy, DeliverPolicy, JSONCodec } from 'nats';
import type { TrainingJobEvent } from '@clara/contracts';
import { NatsBus, acquireDataSource, createLogger, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import { bootstrap, type TrainingApp } from '../src/index.js';
import { WsClient, http, waitUntil } from './support.js';

const storeDir = mkdtempSync(join(tmpdir(), 'clara-nats-'));
const dataDir = mkdtempSync(join(tmpdir(), 'clara-nats-data-'));
let port = 0;
let server: ChildProcess | undefined;
let db: TestDatabase;
let shared: SharedDataSource;
let bus: NatsBus;
let api: TrainingApp;
const logger = createLogger('nats-restart', { level: 'error' });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
async function startNats() {
  server = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: 'ignore' });
  await waitUntil(async () => {
    try {
      const nc = await connect({ servers: `nats://127.0.0.1:${port}`, timeout: 500 });
      await nc.close();
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'nats-server to start');
}
async function stopNats() {
  const s = server!;
  server = undefined;
  await new Promise((r) => {
    s.once('exit', r);
    s.kill('SIGTERM');
  });
}

beforeAll(async () => {
  port = await freePort();
  await startNats();
  db = await createTestDatabase('nats_restart');
  shared = await acquireDataSource({ url: db.url, logger });
  bus = await NatsBus.connect({ url: `nats://127.0.0.1:${port}`, logger });
  api = await bootstrap({
    bus, db: shared, logger,
    env: { DATABASE_URL: db.url, NATS_URL: `nats://127.0.0.1:${port}`, CLARA_DATA_DIR: dataDir, CLARA_TRAINING_PORT: '0', CLARA_TRAINING_HOST: '127.0.0.1', CLARA_SECURITY_MODE: 'debug', LOG_LEVEL: 'error' },
  });
});
afterAll(async () => {
  await api?.close();
  await bus?.close();
  await shared?.release();
  await db?.drop();
  if (server) await stopNats();
  rmSync(storeDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe('NATS restart', () => {
  it('accepts jobs while NATS is down and publishes all their events, in order, once it is back', async () => {
    const body = { trainer_type: 'lora', base_model: 'tiny', dataset: 'dsv_x' };
    const before = await http(api.url, 'POST', '/api/training/jobs', body);
    expect(before.status).toBe(201);
    const ws = await WsClient.connect(api.url.replace('http', 'ws') + '/ws/training');
    ws.send({ type: 'subscribe', all: true });
    await ws.waitFor((c) => c.messages.find((m) => m.type === 'subscribed'));
    await stopNats();
    const health = await waitUntil(async () => {
      const r = await http(api.url, 'GET', '/health');
      return r.status === 503 && r;
    }, 10_000, '/health to report the bus');
    expect(health.body.message).toMatch(/message bus/);
    expect(health.body.checks.database.ok).toBe(true);
    const during = [];
    for (let i = 0; i < 3; i++) during.push(await http(api.url, 'POST', '/api/training/jobs', body));
    expect(during.map((r) => r.status)).toEqual([201, 201, 201]);
    const cancel = await http(api.url, 'DELETE', `/api/training/jobs/${during[0].body.job_id}`);
    expect(cancel.status).toBe(200);
    await sleep(500);
    await startNats();
    await waitUntil(async () => (await http(api.url, 'GET', '/health')).status === 200, 20_000, 'healthy again');

    // Everything in the stream, read by a fresh consumer from the beginning.
    const ids = [before.body.job_id, ...during.map((r) => r.body.job_id)];
    const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
    const jsm = await nc.jetstreamManager();
    const consumer = await jsm.consumers.add('CLARA_TRAINING_JOBS', { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    const got: TrainingJobEvent[] = [];
    const codec = JSONCodec<TrainingJobEvent>();
    const c = await nc.jetstream().consumers.get('CLARA_TRAINING_JOBS', consumer.name);
    await waitUntil(async () => {
      const batch = await c.fetch({ max_messages: 100, expires: 1000 });
      for await (const m of batch) got.push(codec.decode(m.data));
      return got.filter((e) => ids.includes(e.job_id)).length >= 5;
    }, 20_000, 'the backlog to be published');
    await nc.close();
    const mine = got.filter((e) => ids.includes(e.job_id));
    expect(mine.map((e) => [e.job_id, e.seq, e.type])).toEqual([
      [ids[0], 1, 'created'],
      [ids[1], 1, 'created'],
      [ids[2], 1, 'created'],
      [ids[3], 1, 'created'],
      [ids[1], 2, 'cancelled'],
    ]);
    const eventIds = mine.map((e) => e.event_id);
    expect(eventIds).toEqual([...eventIds].sort((a, b) => a - b));
    // The live WebSocket subscriber (connected through the outage) gets the backlog too.
    await ws.waitFor((c) => c.updates(ids[3]).length >= 1 && c.updates(ids[1]).length >= 2, 20_000);
    expect(ws.updates(ids[1]).map((u) => u.event)).toEqual(['created', 'cancelled']);
    ws.close();
    const unpublished = await shared.dataSource.query('SELECT count(*)::int AS n FROM training_job_events WHERE published_at IS NULL');
    expect(unpublished[0].n).toBe(0);
  });
});
