/**
 * MessageBus over NATS (core request/reply and pub/sub) + JetStream (persisted subjects, durable consumers).
 * Created by createMessageBus() when NATS_URL is set. On connect it ensures every stream in
 * @clara/contracts StreamSubjects exists (file storage). The client reconnects forever; subscriptions on
 * persisted subjects re-attach to their consumer after a server restart.
 */
import {
  AckPolicy,
  DeliverPolicy,
  ErrorCode,
  JSONCodec,
  NatsError,
  RetentionPolicy,
  StorageType,
  connect,
  createInbox,
  headers,
  nanos,
  type ConsumerConfig,
  type JetStreamClient,
  type JsMsg,
  type JetStreamManager,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from 'nats';
import { StreamSubjects } from '@clara/contracts';
import type { Logger } from '../logger.js';
import {
  BusHandler,
  BusHealth,
  BusNoRespondersError,
  BusTimeoutError,
  DeliverFrom,
  MessageBus,
  PublishOptions,
  ReplyEnvelope,
  ReplyHandler,
  SubscribeOptions,
  Subscription,
  streamFor,
  toReplyError,
  unwrapReply,
} from './message-bus.js';

const codec = JSONCodec<unknown>();
const PUBLISH_ACK_TIMEOUT_MS = 5000;

/** A persisted publish waiting for its JetStream ack. */
interface PendingAck {
  subject: string;
  deadline: number;
  resolve(): void;
  reject(err: Error): void;
}

export interface NatsBusOptions {
  url: string;
  /** Client name shown by the server (monitoring). */
  name?: string;
  logger?: Logger;
  streams?: Record<string, readonly string[]>;
  /** Max age of messages kept in streams the bus creates (default 7 days). */
  streamMaxAgeMs?: number;
}

export class NatsBus implements MessageBus {
  readonly kind = 'nats' as const;
  private closed = false;
  private readonly subs = new Set<Subscription>();
  /**
   * Acks of persisted publishes: one wildcard inbox subscription and one sweep timer for all of them, instead of
   * nats.js' js.publish (a request object, a timer and a pre-built timeout error per message), which was a large
   * part of the outbox relay's cost under load.
   */
  private acks?: { prefix: string; sub: NatsSubscription; pending: Map<string, PendingAck>; next: number; sweeper: NodeJS.Timeout };

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly streams: Record<string, readonly string[]>,
    private readonly logger?: Logger,
  ) {}

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const servers = options.url.split(',').map((s) => s.trim());
    let nc: NatsConnection;
    try {
      nc = await connect({ servers, name: options.name ?? 'clara', maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: 5000 });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${options.url}: ${(err as Error).message}`);
    }
    const jsm = await nc.jetstreamManager({ timeout: 5000 });
    const streams = options.streams ?? (StreamSubjects as unknown as Record<string, readonly string[]>);
    const bus = new NatsBus(nc, nc.jetstream({ timeout: 5000 }), jsm, streams, options.logger);
    await bus.ensureStreams(options.streamMaxAgeMs ?? 7 * 24 * 3600_000);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') options.logger?.warn(`nats ${s.type}`, { server: String(s.data) });
      }
    })().catch(() => undefined);
    return bus;
  }

  private async ensureStreams(maxAgeMs: number) {
    for (const [name, subjects] of Object.entries(this.streams)) {
      try {
        const info = await this.jsm.streams.info(name);
        const missing = subjects.filter((s) => !info.config.subjects.includes(s));
        if (missing.length) await this.jsm.streams.update(name, { ...info.config, subjects: [...info.config.subjects, ...missing] });
      } catch (err) {
        if (!(err instanceof NatsError) || !/not found/i.test(err.message)) throw err;
        try {
          await this.jsm.streams.add({
            name,
            subjects: [...subjects],
            storage: StorageType.File,
            retention: RetentionPolicy.Limits,
            max_age: nanos(maxAgeMs),
            duplicate_window: nanos(120_000),
          });
        } catch (addErr) {
          // Another service created it at the same moment.
          if (!/already in use|exists/i.test((addErr as Error).message)) throw addErr;
        }
      }
    }
  }

  async publish<T>(subject: string, payload: T, options: PublishOptions = {}): Promise<void> {
    const data = codec.encode(payload ?? null);
    if (streamFor(this.streams, subject)) {
      await this.publishPersisted(subject, data, options.msgId);
    } else {
      this.nc.publish(subject, data);
    }
  }

  /** JetStream publish: resolves when the stream has stored it (or de-duplicated it by msgId). */
  private publishPersisted(subject: string, data: Uint8Array, msgId: string | undefined): Promise<void> {
    const acks = this.ackInbox();
    const token = (acks.next++).toString(36);
    return new Promise<void>((resolve, reject) => {
      acks.pending.set(token, { subject, deadline: Date.now() + PUBLISH_ACK_TIMEOUT_MS, resolve, reject });
      let h;
      if (msgId !== undefined) {
        h = headers();
        h.set('Nats-Msg-Id', msgId);
      }
      try {
        this.nc.publish(subject, data, { reply: acks.prefix + token, headers: h });
      } catch (err) {
        acks.pending.delete(token);
        reject(err as Error);
      }
    });
  }

  private ackInbox() {
    if (this.acks) return this.acks;
    const prefix = `${createInbox()}.`;
    const pending = new Map<string, PendingAck>();
    const sub = this.nc.subscribe(`${prefix}*`, {
      callback: (err, msg) => {
        if (err) return;
        const token = msg.subject.slice(prefix.length);
        const p = pending.get(token);
        if (!p) return; // timed out already
        pending.delete(token);
        if (msg.headers?.code === 503) return p.reject(new Error(`no JetStream stream stored ${p.subject} (503 no responders)`));
        if (msg.headers?.hasError) return p.reject(new Error(`JetStream refused ${p.subject}: ${msg.headers.status}`));
        let ack: { stream?: string; error?: { description?: string; code?: number } };
        try {
          ack = JSON.parse(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).toString('utf8'));
        } catch {
          return p.reject(new Error(`JetStream ack for ${p.subject} is not JSON`));
        }
        if (ack.error) return p.reject(new Error(`JetStream refused ${p.subject}: ${ack.error.description ?? ack.error.code}`));
        if (!ack.stream) return p.reject(new Error(`JetStream ack for ${p.subject} names no stream`));
        p.resolve();
      },
    });
    // Map order is publish order and every deadline is publish time + the same timeout: stop at the first live one.
    const sweeper = setInterval(() => {
      const now = Date.now();
      for (const [token, p] of pending) {
        if (p.deadline > now) break;
        pending.delete(token);
        p.reject(new BusTimeoutError(p.subject, PUBLISH_ACK_TIMEOUT_MS));
      }
    }, 250);
    sweeper.unref();
    this.acks = { prefix, sub, pending, next: 0, sweeper };
    return this.acks;
  }

  async subscribe<T>(pattern: string, handler: BusHandler<T>, options: SubscribeOptions = {}): Promise<Subscription> {
    const stream = streamFor(this.streams, pattern);
    if (!stream) {
      if (options.durable) throw new Error(`durable subscriptions need a persisted subject; ${pattern} is in no stream`);
      const sub = this.nc.subscribe(pattern, {
        queue: options.queue,
        callback: (err, msg) => {
          if (err) return;
          let data: unknown;
          try {
            data = msg.data.length ? codec.decode(msg.data) : null;
          } catch {
            this.logger?.warn('bus: dropped a message that is not JSON', { subject: msg.subject });
            return;
          }
          Promise.resolve()
            .then(() => handler({ subject: msg.subject, data: data as T, deliveryCount: 1 }))
            .catch((e) => this.logger?.warn('bus handler failed', { subject: msg.subject, err: e as Error }));
        },
      });
      const s: Subscription = { unsubscribe: async () => (this.subs.delete(s), sub.unsubscribe()) };
      this.subs.add(s);
      return s;
    }
    return this.subscribeStream(stream, pattern, handler as BusHandler<unknown>, options);
  }

  private async subscribeStream(
    stream: string,
    pattern: string,
    handler: BusHandler<unknown>,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    if (options.noAck && options.durable) throw new Error('noAck is for non-durable subscriptions only');
    let stopped = false;
    let lastSeq = 0;
    let current: { close(): Promise<void | Error> } | undefined;
    let name = options.durable;
    // Acks of handled messages leave together once per event-loop turn (one socket write for a burst instead of
    // one per message); each message is still acked on its own, only a moment later.
    const handled: JsMsg[] = [];
    let ackScheduled = false;
    const sendAcks = () => {
      ackScheduled = false;
      for (const m of handled.splice(0)) m.ack();
    };
    const config = (from: DeliverFrom | undefined): Partial<ConsumerConfig> => ({
      ...(options.durable ? { durable_name: options.durable } : { inactive_threshold: nanos(60_000) }),
      ...(options.noAck
        ? { ack_policy: AckPolicy.None }
        : { ack_policy: AckPolicy.Explicit, ack_wait: nanos(options.ackWaitMs ?? 30_000), max_deliver: 20 }),
      filter_subject: pattern,
      ...deliverConfig(from),
    });
    const ensureConsumer = async (from: DeliverFrom | undefined) => {
      if (options.durable) {
        try {
          await this.jsm.consumers.info(stream, options.durable);
          return options.durable;
        } catch {
          /* create below */
        }
      }
      const info = await this.jsm.consumers.add(stream, config(from));
      return info.name;
    };
    name = await ensureConsumer(options.deliverFrom);

    const loop = async () => {
      while (!stopped && !this.closed) {
        try {
          const consumer = await this.js.consumers.get(stream, name!);
          const messages = await consumer.consume({ max_messages: 64 });
          current = messages;
          for await (const m of messages) {
            if (stopped) break;
            let data: unknown;
            try {
              data = m.data.length ? codec.decode(m.data) : null;
            } catch {
              if (!options.noAck) m.term();
              continue;
            }
            try {
              await handler({ subject: m.subject, data, streamSeq: m.info.streamSequence, deliveryCount: m.info.redeliveryCount });
              lastSeq = m.info.streamSequence;
              if (options.noAck) continue;
              handled.push(m);
              if (!ackScheduled) {
                ackScheduled = true;
                setImmediate(sendAcks);
              }
            } catch (err) {
              if (options.noAck) {
                lastSeq = m.info.streamSequence;
                this.logger?.warn('bus handler failed on a live feed (not redelivered)', { subject: m.subject, err: err as Error });
                continue;
              }
              this.logger?.warn('bus handler failed; message will be redelivered', { subject: m.subject, err: err as Error });
              m.nak(1000);
            }
          }
        } catch (err) {
          if (stopped || this.closed) break;
          this.logger?.warn('bus consumer interrupted; re-attaching', { stream, consumer: name, err: err as Error });
        }
        if (stopped || this.closed) break;
        await sleep(1000);
        try {
          // An ephemeral consumer may be gone after a server restart: recreate it after the last handled message.
          if (!options.durable) name = await ensureConsumer(lastSeq ? { seq: lastSeq + 1 } : options.deliverFrom);
          else name = await ensureConsumer(options.deliverFrom);
        } catch {
          /* server still away; retry */
        }
      }
    };
    void loop();
    const s: Subscription = {
      unsubscribe: async () => {
        stopped = true;
        this.subs.delete(s);
        sendAcks();
        await current?.close().catch(() => undefined);
        if (!options.durable && name) await this.jsm.consumers.delete(stream, name).catch(() => undefined);
      },
    };
    this.subs.add(s);
    return s;
  }

  async request<TReq, TRes>(subject: string, payload: TReq, timeoutMs = 5000): Promise<TRes> {
    try {
      const msg = await this.nc.request(subject, codec.encode(payload ?? null), { timeout: timeoutMs });
      return unwrapReply(codec.decode(msg.data) as ReplyEnvelope<TRes>);
    } catch (err) {
      if (err instanceof NatsError && err.code === ErrorCode.NoResponders) throw new BusNoRespondersError(subject);
      if (err instanceof NatsError && err.code === ErrorCode.Timeout) throw new BusTimeoutError(subject, timeoutMs);
      throw err;
    }
  }

  async reply<TReq, TRes>(subject: string, handler: ReplyHandler<TReq, TRes>, options: { queue?: string } = {}): Promise<Subscription> {
    const sub = this.nc.subscribe(subject, {
      queue: options.queue,
      callback: (err, msg) => {
        if (err) return;
        void (async () => {
          let envelope: ReplyEnvelope<unknown>;
          try {
            const data = msg.data.length ? codec.decode(msg.data) : null;
            envelope = { ok: true, data: await handler(data as TReq, msg.subject) };
          } catch (e) {
            envelope = toReplyError(e);
          }
          msg.respond(codec.encode(envelope));
        })();
      },
    });
    const s: Subscription = { unsubscribe: async () => (this.subs.delete(s), sub.unsubscribe()) };
    this.subs.add(s);
    return s;
  }

  async health(): Promise<BusHealth> {
    if (this.nc.isClosed()) return { ok: false, kind: this.kind, detail: 'connection closed' };
    try {
      await Promise.race([this.nc.rtt(), sleep(1500).then(() => Promise.reject(new Error('no answer from NATS within 1.5 s')))]);
      return { ok: true, kind: this.kind };
    } catch (err) {
      return { ok: false, kind: this.kind, detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.subs]) await s.unsubscribe().catch(() => undefined);
    await this.nc.drain().catch(() => this.nc.close());
    if (this.acks) {
      // Drain let acks already on the wire arrive; what is still pending now never will.
      clearInterval(this.acks.sweeper);
      for (const p of this.acks.pending.values()) p.reject(new Error(`bus closed before ${p.subject} was acknowledged`));
      this.acks.pending.clear();
    }
  }
}

function deliverConfig(from: DeliverFrom = 'new'): Partial<ConsumerConfig> {
  if (from === 'all') return { deliver_policy: DeliverPolicy.All };
  if (from === 'new') return { deliver_policy: DeliverPolicy.New };
  if (from === 'last') return { deliver_policy: DeliverPolicy.Last };
  if ('seq' in from) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.seq };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time.toISOString() };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
