/**
 * Keeps this replica's adapter set in step with the others and with the registry:
 * - load/unload through the API is applied here and broadcast on Subjects.servingAdapterCommand; commands from
 *   other replicas are applied the same way (so every replica serves the same names and versions);
 * - a model name nobody loaded is looked up in the adapter registry (PostgreSQL) and loaded on first request;
 * - registry events for an adapter this replica serves from the registry swap in the new version (or drop it).
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { Subjects, type AdapterRegistryEventPayload, type ServingAdapterCommand } from '@clara/contracts';
import type { Logger, MessageBus, Subscription } from '@clara/platform';
import type { AdapterInfo, ServingEngine } from '@clara/engine/inference/index';
import { badRequest, OpenAIError } from './openai-errors.js';

export interface RegistryRecord {
  id: string;
  name: string;
  version: number;
  path: string;
  baseModel: string;
}

/** Adapter registry reads serving needs (implemented over @clara/data-access in app.ts). */
export interface AdapterRegistryReader {
  find(name: string, version?: number): Promise<RegistryRecord | null>;
}

interface Origin {
  kind: 'api' | 'registry';
  registryId?: string;
}

export class AdapterSync {
  private readonly origins = new Map<string, Origin>();
  private readonly subs: Subscription[] = [];
  private counter = 0;

  constructor(
    private readonly engine: ServingEngine,
    private readonly replicaId: () => string,
    private readonly log: Logger,
    private readonly opts: { bus?: MessageBus; registry?: AdapterRegistryReader; adapterRoot?: string; onLoaded?(ms: number): void },
  ) {}

  async start(): Promise<void> {
    const bus = this.opts.bus;
    if (!bus) return;
    this.subs.push(
      await bus.subscribe<ServingAdapterCommand>(Subjects.servingAdapterCommand, async (msg) => {
        const cmd = msg.data;
        if (cmd.origin === this.replicaId()) return;
        try {
          if (cmd.op === 'load' && cmd.path) await this.load(cmd.name, cmd.path, { version: cmd.version, pinned: cmd.pinned, broadcast: false });
          if (cmd.op === 'unload') await this.unload(cmd.name, false);
          this.log.info('applied adapter command from another replica', { op: cmd.op, name: cmd.name, version: cmd.version, origin: cmd.origin });
        } catch (err) {
          this.log.error('cannot apply adapter command', { op: cmd.op, name: cmd.name, err: (err as Error).message });
        }
      }),
    );
    this.subs.push(
      await bus.subscribe<AdapterRegistryEventPayload>(Subjects.adapterEventsAll, (msg) => this.onRegistryEvent(msg.subject, msg.data), { deliverFrom: 'new' }),
    );
  }

  async stop(): Promise<void> {
    for (const s of this.subs.splice(0)) await s.unsubscribe().catch(() => undefined);
  }

  private async checkPath(path: string): Promise<string> {
    const abs = resolve(path);
    const root = this.opts.adapterRoot ? resolve(this.opts.adapterRoot) : undefined;
    if (root) {
      const rel = relative(root, abs);
      if (rel.startsWith('..') || isAbsolute(rel)) throw badRequest('lora_path', `'lora_path' must lie under the adapter root`);
    }
    const s = await stat(abs).catch(() => null);
    if (!s?.isDirectory()) throw badRequest('lora_path', `'lora_path' ${path} is not a directory`);
    return abs;
  }

  /** Loads (or hot-swaps) `name` from a PEFT directory; resolves once new requests get the new version. */
  async load(name: string, path: string, o: { version?: string; pinned?: boolean; broadcast?: boolean; origin?: Origin } = {}): Promise<AdapterInfo> {
    if (name === this.engine.modelName) throw badRequest('lora_name', `'lora_name' must differ from the base model name`);
    const abs = await this.checkPath(path);
    const version = o.version ?? `${Date.now().toString(36)}.${++this.counter}`;
    const started = performance.now();
    const info = await this.engine.pool.register(name, { path: abs, version }, { pinned: o.pinned });
    this.opts.onLoaded?.(performance.now() - started);
    this.origins.set(name, o.origin ?? { kind: 'api' });
    if (o.broadcast !== false) await this.publish({ op: 'load', name, path: abs, version, pinned: o.pinned, origin: this.replicaId(), issuedAt: new Date().toISOString() });
    return info;
  }

  async unload(name: string, broadcast = true): Promise<void> {
    if (!this.engine.pool.unregister(name)) {
      if (broadcast) throw new OpenAIError(404, `The lora adapter '${name}' is not loaded`, 'lora_name', 'model_not_found');
      return;
    }
    this.origins.delete(name);
    if (broadcast) await this.publish({ op: 'unload', name, origin: this.replicaId(), issuedAt: new Date().toISOString() });
  }

  /** Makes `model` servable: already known, or found in the registry (`name` = newest, `name@3` = version 3). */
  async ensureKnown(model: string): Promise<boolean> {
    if (this.engine.isServed(model)) return true;
    const registry = this.opts.registry;
    if (!registry) return false;
    const at = model.lastIndexOf('@');
    const versioned = at > 0 && /^\d+$/.test(model.slice(at + 1));
    const record = await registry.find(versioned ? model.slice(0, at) : model, versioned ? Number(model.slice(at + 1)) : undefined);
    if (!record) return false;
    if (this.engine.isServed(model)) return true; // another request declared it meanwhile
    this.engine.pool.declare(model, { path: record.path, version: String(record.version) });
    this.origins.set(model, { kind: 'registry', registryId: record.id });
    this.log.info('adapter found in the registry; loads on first use', { model, version: record.version });
    return true;
  }

  private async onRegistryEvent(subject: string, data: AdapterRegistryEventPayload): Promise<void> {
    const event = subject.split('.').pop();
    const name = data?.name;
    if (!name || !this.engine.pool.has(name) || this.origins.get(name)?.kind !== 'registry') return;
    try {
      if (event === 'deleted' && this.origins.get(name)?.registryId === data.id) {
        this.engine.pool.unregister(name);
        this.origins.delete(name);
      } else if (event === 'registered' || event === 'updated') {
        // events carry the registry's name and version; one without a path (older publishers) is looked up
        const record = data.version !== undefined && data.path ? { ...data, version: data.version, path: data.path } : await this.opts.registry?.find(name);
        if (!record) return;
        const current = this.engine.pool.list().find((a) => a.name === name);
        if (current && Number(current.version) >= record.version) return;
        await this.load(name, record.path, { version: String(record.version), broadcast: false, origin: { kind: 'registry', registryId: record.id } });
        this.log.info('hot-swapped adapter to a new registry version', { name, version: record.version });
      }
    } catch (err) {
      this.log.error('cannot apply registry event', { subject, err: (err as Error).message });
    }
  }

  private async publish(cmd: ServingAdapterCommand): Promise<void> {
    await this.opts.bus?.publish(Subjects.servingAdapterCommand, cmd).catch((err: Error) => {
      this.log.warn('cannot broadcast adapter command', { err: err.message });
    });
  }
}
