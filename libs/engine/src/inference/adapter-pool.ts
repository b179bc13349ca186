/**
 * Which LoRA adapters are known, which versions sit in the runner's stacked slots, and who is using them.
 *
 * - Slot 0 is the base model (no adapter). Slots 1..numSlots-1 hold adapter versions.
 * - A request takes a lease on the CURRENT version of its adapter and keeps that slot until it finishes, so a hot
 *   swap (register of a new version) never changes weights under a running request: the new version goes to another
 *   slot, the name points at it atomically, and the old slot is freed when its last lease ends.
 * - When no slot is free the least recently used one without leases and not pinned is evicted (the adapter stays
 *   known and is loaded again on its next request). If every slot is leased, acquire waits for a release.
 */
import type { LoraWeights, ModelRunner } from './types.js';

export interface AdapterSource {
  /** PEFT directory (or any string the loader understands). */
  path: string;
  /** Version label (registry version, or a counter for ad-hoc loads). */
  version: string;
}

export interface AdapterInfo {
  name: string;
  version: string;
  path: string;
  pinned: boolean;
  resident: boolean;
  rank?: number;
  createdAt: number;
}

export type AdapterLoader = (source: AdapterSource) => Promise<LoraWeights>;

export class AdapterError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

interface Known {
  name: string;
  source: AdapterSource;
  pinned: boolean;
  rank?: number;
  createdAt: number;
  /** In-flight load of this version, shared by concurrent first requests. */
  loading?: Promise<number>;
}

interface Slot {
  key: string | null; // `${name}@${version}`
  name: string | null;
  refs: number;
  lastUsed: number;
  /** No longer the current version of its name: free as soon as refs reach 0. */
  retired: boolean;
}

export interface AdapterLease {
  name: string;
  version: string;
  slot: number;
  release(): void;
}

export interface AdapterPoolEvents {
  onEvict?(name: string, version: string): void;
  onChange?(): void;
}

export class AdapterPool {
  private readonly known = new Map<string, Known>();
  private readonly slots: Slot[];
  private readonly waiters: (() => void)[] = [];
  private clock = 0;

  constructor(
    private readonly runner: Pick<ModelRunner, 'numSlots' | 'maxRank' | 'setSlot'>,
    private readonly loader: AdapterLoader,
    private readonly events: AdapterPoolEvents = {},
    private readonly acquireTimeoutMs = 30_000,
  ) {
    this.slots = Array.from({ length: runner.numSlots }, () => ({ key: null, name: null, refs: 0, lastUsed: 0, retired: false }));
  }

  get capacity(): number {
    return this.slots.length - 1;
  }

  has(name: string): boolean {
    return this.known.has(name);
  }

  list(): AdapterInfo[] {
    return [...this.known.values()].map((k) => ({
      name: k.name,
      version: k.source.version,
      path: k.source.path,
      pinned: k.pinned,
      resident: this.slotOf(k) > 0,
      rank: k.rank,
      createdAt: k.createdAt,
    }));
  }

  residentCount(): number {
    return this.slots.filter((s, i) => i > 0 && s.key !== null).length;
  }

  /**
   * Loads `name` at `source` into a slot and makes it the current version (hot swap when the name exists).
   * Resolves once the new version serves new requests; running requests keep their old slot.
   */
  async register(name: string, source: AdapterSource, options: { pinned?: boolean } = {}): Promise<AdapterInfo> {
    const weights = await this.loadWeights(source);
    const slot = await this.allocate();
    this.runner.setSlot(slot, weights);
    const previous = this.known.get(name);
    const entry: Known = {
      name,
      source,
      pinned: options.pinned ?? previous?.pinned ?? false,
      rank: weights.rank,
      createdAt: Math.floor(Date.now() / 1000),
    };
    // the swap itself: one synchronous step, so no request can see a half-registered adapter
    if (previous) this.retire(previous);
    this.occupy(slot, name, source.version);
    this.known.set(name, entry);
    this.events.onChange?.();
    return this.list().find((a) => a.name === name)!;
  }

  /** Knows the adapter without loading it yet (loaded on its first request). */
  declare(name: string, source: AdapterSource, options: { pinned?: boolean } = {}): void {
    const previous = this.known.get(name);
    if (previous && previous.source.version === source.version && previous.source.path === source.path) return;
    if (previous) this.retire(previous);
    this.known.set(name, { name, source, pinned: options.pinned ?? false, createdAt: Math.floor(Date.now() / 1000) });
    this.events.onChange?.();
  }

  unregister(name: string): boolean {
    const entry = this.known.get(name);
    if (!entry) return false;
    this.retire(entry);
    this.known.delete(name);
    this.events.onChange?.();
    return true;
  }

  setPinned(name: string, pinned: boolean): void {
    const entry = this.known.get(name);
    if (!entry) throw new AdapterError(`adapter ${name} is not loaded`, 404, 'model_not_found');
    entry.pinned = pinned;
  }

  /** Takes a lease on the current version of `name`, loading it into a slot first when needed. */
  async acquire(name: string): Promise<AdapterLease> {
    const entry = this.known.get(name);
    if (!entry) throw new AdapterError(`The model \`${name}\` does not exist.`, 404, 'model_not_found');
    let slot = this.slotOf(entry);
    if (slot <= 0) {
      entry.loading ??= (async () => {
        try {
          const weights = await this.loadWeights(entry.source);
          const free = await this.allocate();
          this.runner.setSlot(free, weights);
          entry.rank = weights.rank;
          // the name may have been swapped or removed while loading
          if (this.known.get(name) !== entry) {
            this.slots[free] = { key: null, name: null, refs: 0, lastUsed: 0, retired: false };
            return -1;
          }
          this.occupy(free, name, entry.source.version);
          return free;
        } finally {
          entry.loading = undefined;
        }
      })();
      slot = await entry.loading;
      if (slot <= 0) return this.acquire(name);
    }
    const s = this.slots[slot];
    s.refs++;
    s.lastUsed = ++this.clock;
    let released = false;
    return {
      name,
      version: entry.source.version,
      slot,
      release: () => {
        if (released) return;
        released = true;
        s.refs--;
        if (s.refs === 0 && s.retired) this.free(slot);
        if (s.refs === 0) this.wakeOne();
      },
    };
  }

  private async loadWeights(source: AdapterSource): Promise<LoraWeights> {
    let weights: LoraWeights;
    try {
      weights = await this.loader(source);
    } catch (err) {
      throw new AdapterError(`cannot load adapter from ${source.path}: ${(err as Error).message}`, 400, 'invalid_adapter');
    }
    if (weights.rank > this.runner.maxRank) {
      throw new AdapterError(`adapter rank ${weights.rank} exceeds the server's max LoRA rank ${this.runner.maxRank}`, 400, 'invalid_adapter');
    }
    return weights;
  }

  private slotOf(entry: Known): number {
    const key = `${entry.name}@${entry.source.version}`;
    return this.slots.findIndex((s, i) => i > 0 && s.key === key && !s.retired);
  }

  private occupy(slot: number, name: string, version: string): void {
    this.slots[slot] = { key: `${name}@${version}`, name, refs: 0, lastUsed: ++this.clock, retired: false };
  }

  private retire(entry: Known): void {
    const slot = this.slotOf(entry);
    if (slot <= 0) return;
    this.slots[slot].retired = true;
    if (this.slots[slot].refs === 0) this.free(slot);
  }

  private free(slot: number): void {
    this.slots[slot] = { key: null, name: null, refs: 0, lastUsed: 0, retired: false };
    this.runner.setSlot(slot, null);
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }

  /** A free slot index, evicting the least recently used idle unpinned adapter if needed; waits when all are leased. */
  private async allocate(): Promise<number> {
    const deadline = Date.now() + this.acquireTimeoutMs;
    for (;;) {
      const free = this.slots.findIndex((s, i) => i > 0 && s.key === null);
      if (free > 0) {
        this.slots[free].key = '(reserved)';
        return free;
      }
      let victim = -1;
      for (let i = 1; i < this.slots.length; i++) {
        const s = this.slots[i];
        if (s.refs > 0 || s.key === '(reserved)' || (s.name && this.known.get(s.name)?.pinned)) continue;
        if (victim < 0 || s.lastUsed < this.slots[victim].lastUsed) victim = i;
      }
      if (victim > 0) {
        const [name, version] = (this.slots[victim].key ?? '').split('@');
        const wasCurrent = !this.slots[victim].retired;
        this.slots[victim] = { key: '(reserved)', name: null, refs: 0, lastUsed: 0, retired: false };
        if (wasCurrent) this.events.onEvict?.(name, version);
        return victim;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new AdapterError('all adapter slots are busy; try again', 503, 'adapter_slots_busy');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
