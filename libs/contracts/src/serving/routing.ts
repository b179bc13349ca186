/**
 * Adapter-affinity routing for a gateway in front of several serving replicas (see apps/serving/README.md).
 *
 *   const replicas = await Promise.all(urls.map(async (url) => ({ url, ...(await (await fetch(`${url}/v1/replica`)).json()) })));
 *   const target = chooseReplica(replicas, body.model);   // or the x-clara-adapter header
 *
 * Order of preference: ready replicas only; among those, one that already holds the adapter in a slot and has
 * room in its batch (least queued first); otherwise the rendezvous-hash order of the adapter name, so one adapter
 * keeps landing on the same replica and is loaded there once; a replica whose queue is full is skipped.
 */
import type { ReplicaInfo } from './index.js';

/** FNV-1a 32-bit with murmur3's finalizer (FNV alone mixes the high bits poorly): stable, dependency-free. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Replicas in rendezvous (highest random weight) order for `key`: stable when replicas come and go. */
export function rendezvousOrder<T extends { replica_id: string }>(replicas: T[], key: string): T[] {
  return [...replicas].sort((a, b) => fnv1a(`${b.replica_id}|${key}`) - fnv1a(`${a.replica_id}|${key}`) || a.replica_id.localeCompare(b.replica_id));
}

export function chooseReplica<T extends ReplicaInfo>(replicas: T[], model: string, options: { maxQueue?: number } = {}): T | undefined {
  const maxQueue = options.maxQueue ?? 64;
  const ready = replicas.filter((r) => r.ready);
  if (ready.length === 0) return undefined;
  const hasRoom = (r: T) => r.queue_depth < maxQueue;
  if (ready.every((r) => r.base_model === model || !r.known_adapters.includes(model)) && ready.some((r) => r.base_model === model)) {
    // the base model lives everywhere: least loaded wins
    return [...ready].sort((a, b) => a.queue_depth + a.batch_size - (b.queue_depth + b.batch_size))[0];
  }
  const resident = ready.filter((r) => r.resident_adapters.includes(model) && hasRoom(r)).sort((a, b) => a.queue_depth - b.queue_depth);
  if (resident.length > 0) return resident[0];
  const ordered = rendezvousOrder(ready, model);
  return ordered.find(hasRoom) ?? ordered[0];
}
