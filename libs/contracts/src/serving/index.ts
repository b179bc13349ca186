/**
 * Serving contracts: the bus command replicas exchange to converge on one adapter set, the replica descriptor a
 * gateway reads for adapter-affinity routing, and the header names it uses.
 */

/** Payload on Subjects.servingAdapterCommand (core NATS pub/sub: every replica applies every command). */
export interface ServingAdapterCommand {
  op: 'load' | 'unload';
  /** Served model name (the `model` field of OpenAI requests). */
  name: string;
  /** PEFT directory; for op=load. */
  path?: string;
  /** Version label; a load with a new version hot-swaps the adapter on every replica. */
  version?: string;
  pinned?: boolean;
  /** Replica that issued it (replicas ignore their own commands). */
  origin: string;
  issuedAt: string;
}

/** Fields serving reads from adapter registry events (Subjects.adapterEvent(id, 'registered'|'updated'|'deleted')). */
export interface AdapterRegistryEventPayload {
  id: string;
  /** the registry name (resolved: `adapter-<job>` when the job asked for none) */
  name: string;
  /** the registry version of this record under its name */
  version: number;
  path?: string;
  baseModel?: string;
}

/** GET /v1/replica: what a gateway needs to route (health, load, which adapters are already in GPU/CPU slots). */
export interface ReplicaInfo {
  replica_id: string;
  ready: boolean;
  base_model: string;
  /** Adapters resident in slots (no load needed). */
  resident_adapters: string[];
  /** Adapters known (loaded by name) but maybe evicted from slots. */
  known_adapters: string[];
  queue_depth: number;
  batch_size: number;
  max_batch: number;
  free_slots: number;
}

/** Request header a gateway hashes on for adapter affinity; serving echoes its replica id in REPLICA_HEADER. */
export const ADAPTER_HEADER = 'x-clara-adapter';
export const REPLICA_HEADER = 'x-clara-replica';

/** Body of vLLM's POST /v1/load_lora_adapter (plus CLARA's optional pinned / version). */
export interface LoadLoraAdapterRequest {
  lora_name: string;
  lora_path: string;
  pinned?: boolean;
  version?: string;
}

/** Body of vLLM's POST /v1/unload_lora_adapter. */
export interface UnloadLoraAdapterRequest {
  lora_name: string;
  lora_int_id?: number;
}

/** OpenAI's error body. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
export * from './routing.js';
