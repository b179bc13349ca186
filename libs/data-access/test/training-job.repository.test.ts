// TrainingJobRepository, AdapterRepository and OutboxRelay against the real local PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { InProcessBus, acquireDataSource, type BusMessage, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import type { TrainingJobEvent } from '@clara/contracts';
import {
  AdapterRepository,
  OutboxRelay,
  TrainingJobRepository,
  trainingEntities,
  trainingMigrations,
  type NewTrainingJob,
} from '../src/index.js';

const job = (over: Partial<NewTrainingJob> = {}): NewTrainingJob => ({
  trainerType: 'lora',
  priority: 5,
  tags: [],
  baseModel: 'tiny',
  dataset: 'datasets/a.jsonl',
  configPath: null,
  config: null,
  hyperparameters: { epochs: 1 },
  createdBy: 'ann@clara.local',
  maxAttempts: 2,
  ...over,
});

let db: TestDatabase;
let shared: SharedDataSource;
let ds: DataSource;
let repo: TrainingJobRepository;

beforeAll(async () => {
  db = await createTestDatabase('data_access');
  shared = await acquireDataSource({ url: db.url, entities: trainingEntities, migrations: trainingMigrations });
  ds = shared.dataSource;
  repo = new TrainingJobRepository(ds);
});
afterAll(async () => {
  await shared?.release();
  await db?.drop();
});

async function clear() {
  await ds.query('TRUNCATE training_jobs, training_job_events, adapters CASCADE');
  await ds.query('UPDATE training_outbox_cursor SET last_event_id = (SELECT coalesce(max(id), 0) FROM training_job_events)');
}

describe('create, read, list', () => {
  it('creates a pending job with its first event, and replays an Idempotency-Key', async () => {
    await clear();
    const a = await repo.create(job(), { idempotencyKey: 'k1', requestHash: 'h1' });
    expect(a.kind).toBe('created');
    expect(a.job).toMatchObject({ status: 'pending', trainer_type: 'lora', last_seq: 1, attempts: 0, created_by: 'ann@clara.local' });
    const again = await repo.create(job(), { idempotencyKey: 'k1', requestHash: 'h1' });
    expect(again).toMatchObject({ kind: 'replayed', job: { job_id: a.job.job_id } });
    const other = await repo.create(job({ priority: 9 }), { idempotencyKey: 'k1', requestHash: 'h2' });
    expect(other).toMatchObject({ kind: 'key_conflict', job: { job_id: a.job.job_id } });
    // The same key from another user is another job.
    const bob = await repo.create(job({ createdBy: 'bob' }), { idempotencyKey: 'k1', requestHash: 'h1' });
    expect(bob.kind).toBe('created');
    expect(await repo.events(a.job.job_id, 0, 100)).toEqual([
      expect.objectContaining({ job_id: a.job.job_id, seq: 1, type: 'created', status: 'pending' }),
    ]);
  });

  it('lists newest first with filters and a cursor that neither skips nor repeats', async () => {
    await clear();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await repo.create(job({ tags: i % 2 ? ['odd'] : ['even'], createdBy: i < 3 ? 'x' : 'y' }))).job.job_id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await repo.list({ limit: 3, cursor });
      seen.push(...page.jobs.map((j) => j.job_id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await repo.list({ limit: 50, tag: 'odd' })).jobs.map((j) => j.job_id)).toEqual([ids[5], ids[3], ids[1]]);
    expect((await repo.list({ limit: 50, createdBy: 'x' })).jobs).toHaveLength(3);
    expect((await repo.list({ limit: 50, status: 'running' })).jobs).toHaveLength(0);
    await expect(repo.list({ limit: 5, cursor: 'garbage' })).rejects.toThrow('cursor');
  });
  it('concurrent creates are written together, each durable with its created event, in arrival order; a bad one fails alone', async () => {
    await clear();
    const inputs = Array.from({ length: 12 }, (_, i) =>
      job({ priority: (i % 3) + 4, tags: i % 2 ? ['odd', 'x'] : [], config: i === 3 ? { rank: 4 } : null, hyperparameters: { i } }),
    );
    // priority 11 breaks the CHECK constraint: the batch is refused, then each is retried alone.
    const results = await Promise.allSettled([...inputs.slice(0, 6).map((i) => repo.create(i)), repo.create(job({ priority: 11 })), ...inputs.slice(6).map((i) => repo.create(i))]);
    expect(results[6].status).toBe('rejected');
    const created = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof repo.create>>>).value);
    expect(created).toHaveLength(12);
    created.forEach((c, i) => {
      expect(c.kind).toBe('created');
      expect(c.job).toMatchObject({ status: 'pending', priority: inputs[i].priority, tags: inputs[i].tags, last_seq: 1, created_by: 'ann@clara.local' });
    });
    // Stored as given (config NULL vs object, tags as text[]), each with exactly one 'created' event.
    const rows = await ds.query(`SELECT id, config, tags, hyperparameters FROM training_jobs ORDER BY created_at, id`);
    expect(rows).toHaveLength(12);
    expect(rows.map((r: { id: string }) => r.id)).toEqual(created.map((c) => c.job.job_id));
    expect(rows[3].config).toEqual({ rank: 4 });
    expect(rows[0].config).toBeNull();
    expect(rows[1].tags).toEqual(['odd', 'x']);
    expect(rows.map((r: { hyperparameters: { i: number } }) => r.hyperparameters.i)).toEqual(inputs.map((_, i) => i));
    for (const c of created) {
      expect(await repo.events(c.job.job_id, 0, 10)).toEqual([expect.objectContaining({ seq: 1, type: 'created', status: 'pending' })]);
    }
    // The same through the batched statement itself (no bad row this time): all written, same order.
    const second = await Promise.all(inputs.map((i) => repo.create(i)));
    const secondRows = await ds.query(`SELECT id FROM training_jobs WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`, [second.map((c) => c.job.job_id)]);
    expect(secondRows.map((r: { id: string }) => r.id)).toEqual(second.map((c) => c.job.job_id));
    for (const c of second) expect(await repo.events(c.job.job_id, 0, 10)).toEqual([expect.objectContaining({ seq: 1, type: 'created' })]);
    await ds.query(`DELETE FROM training_jobs WHERE id = ANY($1::uuid[])`, [second.map((c) => c.job.job_id)]);
    // FIFO within a priority, as if they had arrived one by one.
    const claimed: string[] = [];
    for (let i = 0; i < 12; i++) claimed.push((await repo.claimNext('w', 10_000))!.job.job_id);
    const expected = created.map((c, i) => ({ id: c.job.job_id, p: inputs[i].priority, i })).sort((a, b) => b.p - a.p || a.i - b.i);
    expect(claimed).toEqual(expected.map((e) => e.id));
  });
  it('concurrent reads by id are answered together, each with its own job or null', async () => {
    await clear();
    const a = (await repo.create(job({ tags: ['a'] }))).job;
    const b = (await repo.create(job({ priority: 9 }))).job;
    const missing = '00000000-0000-4000-8000-000000000000';
    const [ra, rb, rm, rA, ra2] = await Promise.all([
      repo.findById(a.job_id),
      repo.findById(b.job_id),
      repo.findById(missing),
      repo.findById(a.job_id.toUpperCase()),
      repo.findById(a.job_id),
    ]);
    expect(ra).toEqual(a);
    expect(rb).toEqual(b);
    expect(rm).toBeNull();
    expect(rA).toEqual(a);
    expect(ra2).toEqual(a);
    // A read issued after a write returned sees it.
    await repo.requestCancel(a.job_id, 'ann');
    expect((await repo.findById(a.job_id))!.status).toBe('cancelled');
  });
});

describe('queue protocol', () => {
  it('claims highest priority first, then oldest', async () => {
    await clear();
    const low = await repo.create(job({ priority: 1 }));
    const highOld = await repo.create(job({ priority: 8 }));
    const highNew = await repo.create(job({ priority: 8 }));
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push((await repo.claimNext('w', 10_000))!.job.job_id);
    expect(order).toEqual([highOld.job.job_id, highNew.job.job_id, low.job.job_id]);
    expect(await repo.claimNext('w', 10_000)).toBeNull();
  });

  it('never hands one job to two workers claiming at once', async () => {
    await clear();
    for (let i = 0; i < 30; i++) await repo.create(job());
    // Separate DataSources = separate connections, like separate worker processes.
    const workers = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const d = new DataSource({ type: 'postgres', url: db.url, extra: { max: 2 } });
        await d.initialize();
        return d;
      }),
    );
    const claims = await Promise.all(
      workers.map(async (d, w) => {
        const r = new TrainingJobRepository(d);
        const mine: string[] = [];
        for (;;) {
          const c = await r.claimNext(`w${w}`, 10_000);
          if (!c) return mine;
          mine.push(c.job.job_id);
        }
      }),
    );
    await Promise.all(workers.map((d) => d.destroy()));
    const all = claims.flat();
    expect(all).toHaveLength(30);
    expect(new Set(all).size).toBe(30);
    expect(claims.filter((c) => c.length > 0).length).toBeGreaterThan(1);
  });

  it('records progress with gap-free per-job seq and only for the lease holder', async () => {
    await clear();
    const { job: j } = await repo.create(job());
    await repo.claimNext('w1', 10_000);
    expect(await repo.recordProgress(j.job_id, 'w1', { step: 5, totalSteps: 20, epoch: 1, totalEpochs: 2, metrics: { loss: 1.5, lr: 1e-4 } })).toBe(true);
    expect(await repo.recordProgress(j.job_id, 'intruder', { step: 6, totalSteps: 20, metrics: {} })).toBe(false);
    await repo.recordCheckpoint(j.job_id, 'w1', 5, '/data/jobs/x/checkpoints/step-5');
    await repo.recordEval(j.job_id, 'w1', 5, { eval_loss: 1.7 });
    const view = (await repo.findById(j.job_id))!;
    expect(view).toMatchObject({ status: 'running', progress_percent: 25, current_step: 5, total_steps: 20, current_epoch: 1, total_epochs: 2 });
    expect(view.metrics).toEqual({ loss: 1.5, lr: 1e-4, eval_loss: 1.7 });
    const events = await repo.events(j.job_id, 0, 100);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'created'], [2, 'started'], [3, 'progress'], [4, 'checkpoint'], [5, 'eval'],
    ]);
    expect(events[2]).toMatchObject({ progress_percent: 25, metrics: { loss: 1.5, lr: 1e-4 } });
    expect(await repo.events(j.job_id, 3, 100)).toHaveLength(2);
  });

  it('cancels pending at once, running via cancelling, and refuses finished jobs', async () => {
    await clear();
    const pending = (await repo.create(job())).job;
    expect(await repo.requestCancel(pending.job_id, 'ann')).toMatchObject({ kind: 'cancelled', job: { status: 'cancelled' } });
    expect(await repo.requestCancel(pending.job_id, 'ann')).toMatchObject({ kind: 'finished' });
    const running = (await repo.create(job())).job;
    await repo.claimNext('w1', 10_000);
    expect(await repo.requestCancel(running.job_id, 'ann')).toMatchObject({ kind: 'cancelling', alreadyRequested: false });
    expect(await repo.requestCancel(running.job_id, 'ann')).toMatchObject({ kind: 'cancelling', alreadyRequested: true });
    expect(await repo.heartbeat(running.job_id, 'w1', 10_000)).toBe('cancelling');
    await repo.recordCheckpoint(running.job_id, 'w1', 3, '/ckpt/3');
    expect(await repo.markCancelled(running.job_id, 'w1')).toBe(true);
    const done = (await repo.findById(running.job_id))!;
    expect(done).toMatchObject({ status: 'cancelled', last_checkpoint: '/ckpt/3' });
    expect(await repo.heartbeat(running.job_id, 'w1', 10_000)).toBeNull();
    expect(await repo.requestCancel('00000000-0000-0000-0000-000000000000', 'ann')).toEqual({ kind: 'not_found' });
  });

  it('requeues a job whose lease expired, raising attempts, then fails it after max_attempts', async () => {
    await clear();
    const { job: j } = await repo.create(job({ maxAttempts: 2 }));
    expect((await repo.claimNext('dead-1', 1))!.job.attempts).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(await repo.requeueExpired()).toEqual([{ id: j.job_id, outcome: 'requeued' }]);
    expect(await repo.findById(j.job_id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(await repo.recordProgress(j.job_id, 'dead-1', { step: 1, totalSteps: 2, metrics: {} })).toBe(false);
    const again = (await repo.claimNext('dead-2', 1))!;
    expect(again.job.attempts).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    expect(await repo.requeueExpired()).toEqual([{ id: j.job_id, outcome: 'failed' }]);
    const failed = (await repo.findById(j.job_id))!;
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/lease of worker dead-2 expired on attempt 2 of 2/);
    const types = (await repo.events(j.job_id, 0, 100)).map((e) => e.type);
    expect(types).toEqual(['created', 'started', 'requeued', 'started', 'failed']);
  });

  it('completes a run and registers its adapter in the same transaction', async () => {
    await clear();
    const { job: j } = await repo.create(job());
    await repo.claimNext('w1', 10_000);
    const done = await repo.complete(j.job_id, 'w1', { finalLoss: 0.5 }, { baseModel: 'tiny', datasetRef: 'datasets/a.jsonl', path: '/a', metrics: { final_loss: 0.5 } });
    expect(done.ok).toBe(true);
    const view = (await repo.findById(j.job_id))!;
    expect(view).toMatchObject({ status: 'completed', progress_percent: 100, adapter_id: done.adapterId });
    const adapters = new AdapterRepository(ds);
    const a = (await adapters.findById(done.adapterId!))!;
    expect(a).toMatchObject({ jobId: j.job_id, baseModel: 'tiny', version: 1, path: '/a' });
    // no name asked for: the registry's default name, and the resolved name + version are returned for the event
    expect(a.name).toBe(`adapter-${j.job_id.slice(0, 8)}`);
    expect(done.adapter).toEqual({ id: a.id, name: a.name, version: 1 });
    const child = await adapters.register({ name: a.name, baseModel: 'tiny', parentId: a.id, path: '/b' });
    expect(child.version).toBe(2);
    expect((await adapters.lineage(child.id)).map((x) => x.id)).toEqual([a.id, child.id]);
    expect(await repo.complete(j.job_id, 'w1', {})).toEqual({ ok: false, adapterId: null });
  });
});

describe('outbox relay', () => {
  it('publishes every event once, in id order, marks them published, and retries while the bus is down', async () => {
    await clear();
    const bus = new InProcessBus();
    const got: Array<BusMessage<TrainingJobEvent>> = [];
    await bus.subscribe<TrainingJobEvent>('clara.training.jobs.>', (m) => void got.push(m), { deliverFrom: 'all' });
    let down = true;
    const flaky = Object.create(bus, {
      publish: { value: (s: string, p: unknown, o: unknown) => (down ? Promise.reject(new Error('nats down')) : bus.publish(s, p, o as never)) },
    });
    const relay = new OutboxRelay(ds, flaky, { intervalMs: 50 });
    const r2 = new TrainingJobRepository(ds, { onEventsWritten: () => relay.kick() });
    const { job: a } = await r2.create(job());
    const { job: b } = await r2.create(job());
    await r2.claimNext('w', 10_000);
    relay.start();
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toHaveLength(0);
    expect(await relay.backlog()).toBe(3);
    down = false;
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    await relay.stop();
    expect(got.map((m) => [m.subject, m.data.seq])).toEqual([
      [`clara.training.jobs.${a.job_id}.created`, 1],
      [`clara.training.jobs.${b.job_id}.created`, 1],
      [`clara.training.jobs.${a.job_id}.started`, 2],
    ]);
    const ids = got.map((m) => m.data.event_id);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect(await relay.backlog()).toBe(0);
    expect(await r2.publishedCursor()).toBe(ids[2]);
    expect((await r2.eventsAfterId(ids[0], ids[2], null)).map((e) => e.event_id)).toEqual([ids[1], ids[2]]);
    expect((await r2.eventsAfterSeqs({ [a.job_id]: 1 }, ids[2])).map((e) => e.event_id)).toEqual([ids[2]]);
    await bus.close();
  });

  it('two relays at once publish every event exactly once, in id order (the cursor lock serialises their batches)', async () => {
    await clear();
    const published: number[] = [];
    const recording = (delayMs: number) => ({
      publish: async (_s: string, e: TrainingJobEvent) => {
        published.push(e.event_id);
        await new Promise((r) => setTimeout(r, delayMs));
      },
    });
    const r1 = new OutboxRelay(ds, recording(2) as never, { intervalMs: 20, batchSize: 7 });
    const r2 = new OutboxRelay(ds, recording(3) as never, { intervalMs: 20, batchSize: 5 });
    const writer = new TrainingJobRepository(ds, { onEventsWritten: () => (r1.kick(), r2.kick()) });
    r1.start();
    r2.start();
    await Promise.all(Array.from({ length: 60 }, () => writer.create(job())));
    for (let i = 0; i < 200 && (await r1.backlog()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    await r1.stop();
    await r2.stop();
    const stored: Array<{ id: string }> = await ds.query('SELECT id FROM training_job_events ORDER BY id');
    expect(stored).toHaveLength(60);
    expect(published).toEqual(stored.map((r) => Number(r.id)));
    expect(await writer.publishedCursor()).toBe(Number(stored[59].id));
  });
});

