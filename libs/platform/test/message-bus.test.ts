// One contract, two implementations: the in-process bus and NATS JetStream (real server at TEST_NATS_URL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import {
  BusNoRespondersError,
  BusRemoteError,
  BusTimeoutError,
  InProcessBus,
  NatsBus,
  type BusMessage,
  type MessageBus,
} from '../src/index.js';
import { TEST_NATS_URL, uniqueId } from '../src/testing.js';

const id = uniqueId('bus');
const STREAM = `TEST_${id.toUpperCase()}`;
const streams = { [STREAM]: [`${id}.persist.>`] };

async function waitFor<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const impls: Array<[string, () => Promise<MessageBus>]> = [
  ['in-process', async () => new InProcessBus({ streams, retryDelayMs: 50 })],
  ['nats', async () => NatsBus.connect({ url: TEST_NATS_URL, streams, name: 'platform-test' })],
];

describe.each(impls)('MessageBus contract: %s', (kind, make) => {
  let bus: MessageBus;
  const p = `${id}.${kind}`;
  beforeAll(async () => {
    bus = await make();
  });
  afterAll(async () => {
    await bus?.close();
    if (kind === 'nats') {
      const nc = await connect({ servers: TEST_NATS_URL });
      await (await nc.jetstreamManager()).streams.delete(STREAM).catch(() => undefined);
      await nc.close();
    }
  });

  it('is healthy', async () => {
    expect(await bus.health()).toMatchObject({ ok: true, kind });
  });

  it('delivers core messages to matching wildcard subscribers only', async () => {
    const got: string[] = [];
    const a = await bus.subscribe(`${p}.core.*.x`, (m) => void got.push(`star:${m.subject}`));
    const b = await bus.subscribe(`${p}.core.>`, (m) => void got.push(`gt:${m.subject}`));
    await bus.publish(`${p}.core.1.x`, { n: 1 });
    await bus.publish(`${p}.core.1.y`, { n: 2 });
    await waitFor(() => got.length >= 3 || undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(got.sort()).toEqual([`gt:${p}.core.1.x`, `gt:${p}.core.1.y`, `star:${p}.core.1.x`]);
    await a.unsubscribe();
    await b.unsubscribe();
  });

  it('load-balances a queue group (each message to exactly one member)', async () => {
    const seen: Array<[string, number]> = [];
    const s1 = await bus.subscribe<{ i: number }>(`${p}.q`, (m) => void seen.push(['a', m.data.i]), { queue: 'g' });
    const s2 = await bus.subscribe<{ i: number }>(`${p}.q`, (m) => void seen.push(['b', m.data.i]), { queue: 'g' });
    for (let i = 0; i < 20; i++) await bus.publish(`${p}.q`, { i });
    await waitFor(() => seen.length >= 20 || undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map(([, i]) => i).sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
    await s1.unsubscribe();
    await s2.unsubscribe();
  });

  it('answers requests, carries remote errors, reports no responders and timeouts', async () => {
    const r = await bus.reply<{ a: number; b: number }, { sum: number }>(`${p}.rpc.add`, ({ a, b }) => ({ sum: a + b }));
    const e = await bus.reply(`${p}.rpc.fail`, () => {
      throw Object.assign(new Error('dataset not found'), { status: 404 });
    });
    const slow = await bus.reply(`${p}.rpc.slow`, () => new Promise((res) => setTimeout(() => res(1), 2000)));
    expect(await bus.request(`${p}.rpc.add`, { a: 2, b: 3 }, 2000)).toEqual({ sum: 5 });
    await expect(bus.request(`${p}.rpc.fail`, {}, 2000)).rejects.toMatchObject({ name: 'BusRemoteError', message: 'dataset not found', status: 404 });
    await expect(bus.request(`${p}.rpc.fail`, {}, 2000)).rejects.toBeInstanceOf(BusRemoteError);
    await expect(bus.request(`${p}.rpc.nobody`, {}, 1000)).rejects.toBeInstanceOf(BusNoRespondersError);
    await expect(bus.request(`${p}.rpc.slow`, {}, 200)).rejects.toBeInstanceOf(BusTimeoutError);
    await Promise.all([r.unsubscribe(), e.unsubscribe(), slow.unsubscribe()]);
  });

  it('persists stream subjects: a late subscriber with deliverFrom all gets history in order', async () => {
    for (let i = 0; i < 5; i++) await bus.publish(`${id}.persist.${kind}.hist`, { i });
    const got: number[] = [];
    const s = await bus.subscribe<{ i: number }>(`${id}.persist.${kind}.hist`, (m) => void got.push(m.data.i), { deliverFrom: 'all' });
    await waitFor(() => got.length >= 5 || undefined);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    await s.unsubscribe();
  });

  it('de-duplicates publishes with the same msgId', async () => {
    const subj = `${id}.persist.${kind}.dedupe`;
    await bus.publish(subj, { v: 1 }, { msgId: `${kind}-m1` });
    await bus.publish(subj, { v: 1 }, { msgId: `${kind}-m1` });
    await bus.publish(subj, { v: 2 }, { msgId: `${kind}-m2` });
    const got: number[] = [];
    const s = await bus.subscribe<{ v: number }>(subj, (m) => void got.push(m.data.v), { deliverFrom: 'all' });
    await waitFor(() => got.length >= 2 || undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([1, 2]);
    await s.unsubscribe();
  });

  it('a durable consumer resumes after the last acknowledged message and redelivers failures', async () => {
    const subj = `${id}.persist.${kind}.durable`;
    const durable = `d_${kind}_${id}`;
    const got: Array<BusMessage<{ i: number }>> = [];
    let failOnce = true;
    const s1 = await bus.subscribe<{ i: number }>(
      subj,
      (m) => {
        if (m.data.i === 1 && failOnce) {
          failOnce = false;
          throw new Error('transient');
        }
        got.push(m);
      },
      { durable, deliverFrom: 'all' },
    );
    await bus.publish(subj, { i: 0 });
    await bus.publish(subj, { i: 1 });
    await waitFor(() => got.length >= 2 || undefined, 8000);
    expect(got.map((m) => m.data.i)).toEqual([0, 1]);
    expect(got[1].deliveryCount).toBe(2);
    await s1.unsubscribe();
    await bus.publish(subj, { i: 2 });
    await bus.publish(subj, { i: 3 });
    const later: number[] = [];
    const s2 = await bus.subscribe<{ i: number }>(subj, (m) => void later.push(m.data.i), { durable, deliverFrom: 'all' });
    await waitFor(() => later.length >= 2 || undefined, 8000);
    await new Promise((r) => setTimeout(r, 200));
    expect(later).toEqual([2, 3]);
    await s2.unsubscribe();
  });
});
