// SubscribeOptions.noAck (a live feed without acknowledgements) on both buses: in order, nothing redelivered when
// the handler throws, later messages still come; refused for durable consumers.
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { TEST_NATS_URL, uniqueId } from '../testing.js';
import { InProcessBus } from './in-process-bus.js';
import type { MessageBus } from './message-bus.js';
import { NatsBus } from './nats-bus.js';

const id = uniqueId('noack');
const STREAM = `TEST_${id.toUpperCase()}`;
const streams = { [STREAM]: [`${id}.>`] };

afterAll(async () => {
  const nc = await connect({ servers: TEST_NATS_URL });
  await (await nc.jetstreamManager()).streams.delete(STREAM).catch(() => undefined);
  await nc.close();
});

describe.each([
  ['in-process', async (): Promise<MessageBus> => new InProcessBus({ streams, retryDelayMs: 20 })],
  ['nats', async (): Promise<MessageBus> => NatsBus.connect({ url: TEST_NATS_URL, streams, name: 'platform-test-noack' })],
])('noAck live feed: %s', (kind, make) => {
  it('delivers in order, does not redeliver what the handler threw on, and goes on with the next message', async () => {
    const bus = await make();
    const subject = `${id}.${kind}.feed`;
    const got: Array<{ i: number; count?: number }> = [];
    const sub = await bus.subscribe<{ i: number }>(
      subject,
      (m) => {
        got.push({ i: m.data.i, count: m.deliveryCount });
        if (m.data.i === 2) throw new Error('handler failed');
      },
      { noAck: true },
    );
    for (let i = 1; i <= 5; i++) await bus.publish(subject, { i });
    for (let k = 0; k < 250 && got.length < 5; k++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1300)); // a redelivery (NATS: nak delay 1 s) would show up by now
    expect(got.map((g) => g.i)).toEqual([1, 2, 3, 4, 5]);
    await expect(bus.subscribe(subject, () => undefined, { noAck: true, durable: `d_${kind}_${id}` })).rejects.toThrow(/non-durable/);
    await sub.unsubscribe();
    await bus.close();
  });
});
