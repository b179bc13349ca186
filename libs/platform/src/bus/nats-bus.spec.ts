// NatsBus persisted publishes against the real NATS server at TEST_NATS_URL: the acks are collected on one inbox
// subscription (not one request per message), so each publish must still resolve only once stored, and fail loudly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { TEST_NATS_URL, uniqueId } from '../testing.js';
import { NatsBus } from './nats-bus.js';

describe('NatsBus persisted publish (acks collected on one inbox)', () => {
  const sid = uniqueId('acks');
  const S = `TEST_${sid.toUpperCase()}`;
  let bus: NatsBus;
  beforeAll(async () => {
    bus = await NatsBus.connect({ url: TEST_NATS_URL, streams: { [S]: [`${sid}.>`] }, name: 'platform-test-acks' });
  });
  afterAll(async () => {
    await bus?.close();
    const nc = await connect({ servers: TEST_NATS_URL });
    await (await nc.jetstreamManager()).streams.delete(S).catch(() => undefined);
    await nc.close();
  });

  it('resolves each of 500 concurrent publishes once its message is stored (duplicates by msgId stored once)', async () => {
    const sends = [];
    for (let i = 0; i < 500; i++) sends.push(bus.publish(`${sid}.m`, { i }, { msgId: `${sid}-${i % 400}` }));
    await Promise.all(sends);
    const nc = await connect({ servers: TEST_NATS_URL });
    const info = await (await nc.jetstreamManager()).streams.info(S);
    await nc.close();
    expect(info.state.messages).toBe(400);
  });

  it('rejects when no stream stores the subject any more (instead of resolving or hanging)', async () => {
    const nc = await connect({ servers: TEST_NATS_URL });
    await (await nc.jetstreamManager()).streams.delete(S);
    await nc.close();
    await expect(bus.publish(`${sid}.gone`, { x: 1 })).rejects.toThrow(/no JetStream stream|503/);
  });
});
