// TrainingEventsHub with an in-process bus and a fake event store: the exactly-once / in-order rules in the races
// an e2e test cannot force (live events arriving during a replay, a gap in the live stream).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { Subjects, type TrainingJobEvent } from '@clara/contracts';
import type { TrainingJobRepository } from '@clara/data-access';
import { InProcessBus, createLogger } from '@clara/platform';
import { TrainingEventsHub, textFrame } from './training-events.hub.js';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
let nextId = 0;
const ev = (job: string, seq: number): TrainingJobEvent => ({
  event_id: ++nextId, job_id: job, seq, type: 'progress', status: 'running', occurred_at: new Date().toISOString(),
  progress_percent: seq, current_epoch: null, total_epochs: null, current_step: seq, total_steps: 100, metrics: {},
});

/** The outbox table, with a replay that can be held open to let live events race it. */
function fakeStore(events: TrainingJobEvent[], replayDelayMs = 0) {
  return {
    async publishedCursor() {
      return Math.max(0, ...events.map((e) => e.event_id));
    },
    async eventsAfterSeqs(last: Record<string, number>, upTo: number) {
      const out = events.filter((e) => e.job_id in last && e.seq > last[e.job_id] && e.event_id <= upTo);
      await new Promise((r) => setTimeout(r, replayDelayMs));
      return out;
    },
    async eventsAfterId(after: number, upTo: number) {
      const out = events.filter((e) => e.event_id > after && e.event_id <= upTo);
      await new Promise((r) => setTimeout(r, replayDelayMs));
      return out;
    },
    async events(job: string, after: number, limit: number) {
      return events.filter((e) => e.job_id === job && e.seq > after).slice(0, limit);
    },
  };
}

let server: Server;
let hub: TrainingEventsHub;
let bus: InProcessBus;
async function start(store: ReturnType<typeof fakeStore>) {
  bus = new InProcessBus();
  server = createServer();
  hub = new TrainingEventsHub(store as unknown as TrainingJobRepository, bus, async () => ({ email: 'u' }), createLogger('t', { level: 'error' }), { pingIntervalMs: 60_000 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await hub.start(server);
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/training`);
  const got: Array<{ type: string; job_id?: string; seq?: number }> = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString())));
  await new Promise((r) => ws.once('open', r));
  return { ws, got, updates: (job: string) => got.filter((m) => m.type === 'job_update' && m.job_id === job).map((m) => m.seq) };
}
const until = async (fn: () => boolean) => {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(fn()).toBe(true);
};
const live = (e: TrainingJobEvent) => bus.publish(Subjects.trainingJobEvent(e.job_id, e.type), e);

afterEach(async () => {
  await hub.stop();
  await bus.close();
  await new Promise((r) => server.close(r));
});

describe('TrainingEventsHub', () => {
  it('live events racing a replay are delivered once, after the replayed ones, in order', async () => {
    const stored = [1, 2, 3, 4, 5].map((s) => ev(A, s));
    const c = await start(fakeStore(stored, 150));
    c.ws.send(JSON.stringify({ type: 'subscribe', job_ids: [A], last_seq: { [A]: 2 } }));
    await new Promise((r) => setTimeout(r, 30)); // replay is running now
    await live(stored[4]); // seq 5 again: part of the replay
    const six = ev(A, 6);
    const seven = ev(A, 7);
    stored.push(six, seven);
    await live(six);
    await live(seven);
    await until(() => c.updates(A).length >= 5);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.updates(A)).toEqual([3, 4, 5, 6, 7]);
  });

  it('fills a gap in the live stream from the store before sending the newer event', async () => {
    const stored = [1, 2, 3, 4].map((s) => ev(A, s));
    const c = await start(fakeStore(stored));
    c.ws.send(JSON.stringify({ type: 'subscribe', job_ids: [A], last_seq: { [A]: 1 } }));
    await until(() => c.updates(A).length === 3);
    const lost = [ev(A, 5), ev(A, 6)];
    const eight = ev(A, 7);
    stored.push(...lost, eight);
    await live(eight); // 5 and 6 never came live
    await until(() => c.updates(A).length === 6);
    expect(c.updates(A)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('all-jobs resume replays after the cursor, then goes live without repeats; other jobs are filtered', async () => {
    const stored = [ev(A, 1), ev(B, 1), ev(A, 2), ev(B, 2)];
    const c = await start(fakeStore(stored));
    c.ws.send(JSON.stringify({ type: 'subscribe', all: true, after_event_id: stored[1].event_id }));
    await until(() => c.got.some((m) => m.type === 'subscribed'));
    await live(stored[3]); // already replayed
    const b3 = ev(B, 3);
    stored.push(b3);
    await live(b3);
    await until(() => c.updates(B).length === 2);
    expect(c.updates(A)).toEqual([2]);
    expect(c.updates(B)).toEqual([2, 3]);
    c.ws.send(JSON.stringify({ type: 'unsubscribe' }));
    await until(() => c.got.some((m) => m.type === 'unsubscribed'));
    await live(ev(A, 3));
    await new Promise((r) => setTimeout(r, 50));
    expect(c.updates(A)).toEqual([2]);
  });

  it('a live event reaches every subscriber as the same frame, with the same content ws itself would send', async () => {
    const c = await start(fakeStore([]));
    const second = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/training`);
    const got2: Array<{ type: string; job_id?: string; seq?: number; progress?: number }> = [];
    second.on('message', (d) => got2.push(JSON.parse(d.toString())));
    await new Promise((r) => second.once('open', r));
    c.ws.send(JSON.stringify({ type: 'subscribe', all: true }));
    second.send(JSON.stringify({ type: 'subscribe', job_ids: [A] }));
    await until(() => c.got.some((m) => m.type === 'subscribed') && got2.some((m) => m.type === 'subscribed'));
    const big = { ...ev(A, 1), metrics: { note: 'ü'.repeat(40_000) } } as unknown as TrainingJobEvent; // > 65,535 bytes
    await live(ev(A, 1));
    await live({ ...big, seq: 2 });
    await until(() => c.updates(A).length === 2 && got2.filter((m) => m.type === 'job_update').length === 2);
    expect(got2.filter((m) => m.type === 'job_update')).toEqual(c.got.filter((m) => m.type === 'job_update'));
    second.close();
  });
});

describe('textFrame', () => {
  // ws' own Sender (not in its type definitions) is the reference encoder.
  const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, o: object): Buffer[] } }).Sender;
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 70_000])('matches ws for a %i-byte payload', (n) => {
    const text = 'x'.repeat(n);
    const reference = Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true }));
    expect(textFrame(text).equals(reference)).toBe(true);
  });
});
