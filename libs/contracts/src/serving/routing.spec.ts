import { describe, expect, it } from 'vitest';
import type { ReplicaInfo } from './index.js';
import { chooseReplica, rendezvousOrder } from './routing.js';

const replica = (id: string, o: Partial<ReplicaInfo> = {}): ReplicaInfo => ({
  replica_id: id,
  ready: true,
  base_model: 'base',
  resident_adapters: [],
  known_adapters: [],
  queue_depth: 0,
  batch_size: 0,
  max_batch: 64,
  free_slots: 8,
  ...o,
});

describe('adapter-affinity routing', () => {
  it('prefers a ready replica that already holds the adapter, least queued first', () => {
    const rs = [replica('a', { resident_adapters: ['bot'], queue_depth: 5 }), replica('b'), replica('c', { resident_adapters: ['bot'], queue_depth: 1 }), replica('d', { resident_adapters: ['bot'], ready: false })];
    expect(chooseReplica(rs, 'bot')?.replica_id).toBe('c');
  });

  it('otherwise follows the rendezvous order, which is stable when another replica leaves', () => {
    const rs = ['r1', 'r2', 'r3', 'r4'].map((id) => replica(id));
    const first = chooseReplica(rs, 'bot-7')!.replica_id;
    const without = rs.filter((r) => r.replica_id !== rendezvousOrder(rs, 'bot-7')[3]!.replica_id);
    expect(chooseReplica(without, 'bot-7')!.replica_id).toBe(first);
    // different adapters spread over the replicas
    const owners = new Set(Array.from({ length: 40 }, (_, i) => chooseReplica(rs, `bot-${i}`)!.replica_id));
    expect(owners.size).toBe(4);
  });

  it('skips replicas with a full queue and sends the base model to the least loaded one', () => {
    const rs = [replica('a', { queue_depth: 100 }), replica('b', { queue_depth: 3 }), replica('c', { queue_depth: 1, batch_size: 9 })];
    const order = rendezvousOrder(rs, 'bot');
    const expected = order.find((r) => r.queue_depth < 64)!.replica_id;
    expect(chooseReplica(rs, 'bot')?.replica_id).toBe(expected);
    expect(chooseReplica(rs, 'base')?.replica_id).toBe('b');
    expect(chooseReplica([replica('x', { ready: false })], 'bot')).toBeUndefined();
  });
});
