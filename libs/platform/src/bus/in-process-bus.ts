/**
 * In-process MessageBus for the embedded single-process suite (NATS_URL unset).
 * Same semantics as NatsBus (see message-bus.ts): persisted subjects are kept in an in-memory stream log
 * (bounded) so `deliverFrom: 'all'` and durable resume work inside the process lifetime; delivery per
 * subscription is in order and one at a time; a throwing handler gets the message again after a delay.
 */
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
  subjectMatches,
  toReplyError,
  unwrapReply,
} from './message-bus.js';

interface StoredMessage {
  seq: number;
  subject: string;
  json: string;
  time: number;
  msgId?: string;
}

interface StreamLog {
  seq: number;
  messages: StoredMessage[];
  msgIds: Map<string, number>;
}

/** A consumer on a persisted stream: delivers messages in order, one at a time. */
class StreamConsumer {
  readonly subscribers: Array<{ handler: BusHandler<unknown> }> = [];
  nextSeq: number;
  private running = false;
  private rr = 0;
  closed = false;
  /** A live feed (SubscribeOptions.noAck): a failed delivery is not retried. */
  noAck = false;
  private deliveries = new Map<number, number>();

  constructor(
    readonly pattern: string,
    private readonly log: StreamLog,
    startSeq: number,
    private readonly retryDelayMs: number,
    private readonly logger?: Logger,
  ) {
    this.nextSeq = startSeq;
  }

  kick() {
    if (this.running || this.closed) return;
    this.running = true;
    setImmediate(() => void this.drain());
  }

  private async drain() {
    try {
      while (!this.closed && this.subscribers.length > 0) {
        const msg = this.log.messages.find((m) => m.seq >= this.nextSeq && subjectMatches(this.pattern, m.subject));
        if (!msg) {
          this.nextSeq = this.log.seq + 1;
          break;
        }
        const sub = this.subscribers[this.rr++ % this.subscribers.length];
        const count = (this.deliveries.get(msg.seq) ?? 0) + 1;
        this.deliveries.set(msg.seq, count);
        try {
          await sub.handler({ subject: msg.subject, data: JSON.parse(msg.json), streamSeq: msg.seq, deliveryCount: count });
          this.deliveries.delete(msg.seq);
          this.nextSeq = msg.seq + 1;
        } catch (err) {
          if (this.noAck) {
            this.logger?.warn('bus handler failed on a live feed (not redelivered)', { subject: msg.subject, err: err as Error });
            this.deliveries.delete(msg.seq);
            this.nextSeq = msg.seq + 1;
            continue;
          }
          this.logger?.warn('bus handler failed; message will be redelivered', { subject: msg.subject, err: err as Error });
          if (count >= 10) {
            this.logger?.error('bus message dropped after 10 deliveries', { subject: msg.subject });
            this.deliveries.delete(msg.seq);
            this.nextSeq = msg.seq + 1;
          } else {
            this.running = false;
            setTimeout(() => this.kick(), this.retryDelayMs).unref();
            return;
          }
        }
      }
    } finally {
      if (this.running) this.running = false;
    }
  }
}

export interface InProcessBusOptions {
  logger?: Logger;
  /** Messages kept per stream (oldest dropped first). */
  maxMessagesPerStream?: number;
  retryDelayMs?: number;
  streams?: Record<string, readonly string[]>;
}

export class InProcessBus implements MessageBus {
  readonly kind = 'in-process' as const;
  private readonly streams: Record<string, readonly string[]>;
  private readonly logs = new Map<string, StreamLog>();
  private readonly durables = new Map<string, StreamConsumer>();
  private readonly ephemeral = new Set<StreamConsumer>();
  private readonly core = new Set<{ pattern: string; queue?: string; handler: BusHandler<unknown> }>();
  private readonly replies = new Set<{ pattern: string; handler: ReplyHandler<unknown, unknown> }>();
  private readonly rr = new Map<string, number>();
  private closed = false;

  constructor(private readonly options: InProcessBusOptions = {}) {
    this.streams = options.streams ?? (StreamSubjects as unknown as Record<string, readonly string[]>);
    for (const name of Object.keys(this.streams)) this.logs.set(name, { seq: 0, messages: [], msgIds: new Map() });
  }

  async publish<T>(subject: string, payload: T, options: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    const json = JSON.stringify(payload ?? null);
    const stream = streamFor(this.streams, subject);
    if (stream) {
      const log = this.logs.get(stream)!;
      if (options.msgId && log.msgIds.has(options.msgId)) return; // duplicate: stored once, like JetStream
      const seq = ++log.seq;
      log.messages.push({ seq, subject, json, time: Date.now(), msgId: options.msgId });
      if (options.msgId) log.msgIds.set(options.msgId, seq);
      const max = this.options.maxMessagesPerStream ?? 100_000;
      while (log.messages.length > max) {
        const dropped = log.messages.shift()!;
        if (dropped.msgId) log.msgIds.delete(dropped.msgId);
      }
      for (const c of [...this.durables.values(), ...this.ephemeral]) if (subjectMatches(c.pattern, subject)) c.kick();
      return;
    }
    const groups = new Map<string, Array<{ handler: BusHandler<unknown> }>>();
    for (const sub of this.core) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (sub.queue) {
        const key = `${sub.pattern}|${sub.queue}`;
        groups.set(key, [...(groups.get(key) ?? []), sub]);
      } else {
        this.deliverCore(sub.handler, subject, json);
      }
    }
    for (const [key, members] of groups) {
      const n = this.rr.get(key) ?? 0;
      this.rr.set(key, n + 1);
      this.deliverCore(members[n % members.length].handler, subject, json);
    }
  }

  private deliverCore(handler: BusHandler<unknown>, subject: string, json: string) {
    setImmediate(async () => {
      try {
        await handler({ subject, data: JSON.parse(json), deliveryCount: 1 });
      } catch (err) {
        this.options.logger?.warn('bus handler failed', { subject, err: err as Error });
      }
    });
  }

  async subscribe<T>(pattern: string, handler: BusHandler<T>, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertOpen();
    const stream = streamFor(this.streams, pattern);
    const h = handler as BusHandler<unknown>;
    if (!stream) {
      if (options.durable) throw new Error(`durable subscriptions need a persisted subject; ${pattern} is in no stream`);
      const entry = { pattern, queue: options.queue, handler: h };
      this.core.add(entry);
      return { unsubscribe: async () => void this.core.delete(entry) };
    }
    const log = this.logs.get(stream)!;
    let consumer: StreamConsumer;
    if (options.noAck && options.durable) throw new Error('noAck is for non-durable subscriptions only');
    if (options.durable) {
      const key = `${stream}|${options.durable}`;
      consumer = this.durables.get(key) ?? this.newConsumer(pattern, log, options.deliverFrom);
      this.durables.set(key, consumer);
    } else {
      consumer = this.newConsumer(pattern, log, options.deliverFrom);
      consumer.noAck = options.noAck === true;
      this.ephemeral.add(consumer);
    }
    const entry = { handler: h };
    consumer.subscribers.push(entry);
    consumer.kick();
    return {
      unsubscribe: async () => {
        const i = consumer.subscribers.indexOf(entry);
        if (i >= 0) consumer.subscribers.splice(i, 1);
        if (!options.durable) {
          consumer.closed = true;
          this.ephemeral.delete(consumer);
        }
      },
    };
  }

  private newConsumer(pattern: string, log: StreamLog, from: DeliverFrom = 'new'): StreamConsumer {
    let start: number;
    if (from === 'all') start = 1;
    else if (from === 'new') start = log.seq + 1;
    else if (from === 'last') start = [...log.messages].reverse().find((m) => subjectMatches(pattern, m.subject))?.seq ?? log.seq + 1;
    else if ('seq' in from) start = from.seq;
    else start = log.messages.find((m) => m.time >= from.time.getTime())?.seq ?? log.seq + 1;
    return new StreamConsumer(pattern, log, start, this.options.retryDelayMs ?? 1000, this.options.logger);
  }

  async request<TReq, TRes>(subject: string, payload: TReq, timeoutMs = 5000): Promise<TRes> {
    this.assertOpen();
    const candidates = [...this.replies].filter((r) => subjectMatches(r.pattern, subject));
    if (candidates.length === 0) throw new BusNoRespondersError(subject);
    const n = this.rr.get(`reply|${subject}`) ?? 0;
    this.rr.set(`reply|${subject}`, n + 1);
    const responder = candidates[n % candidates.length];
    const json = JSON.stringify(payload ?? null);
    let timer: NodeJS.Timeout | undefined;
    const answer = (async (): Promise<ReplyEnvelope<unknown>> => {
      await new Promise((r) => setImmediate(r));
      try {
        return { ok: true, data: await responder.handler(JSON.parse(json), subject) };
      } catch (err) {
        return toReplyError(err);
      }
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BusTimeoutError(subject, timeoutMs)), timeoutMs);
    });
    try {
      const envelope = await Promise.race([answer, timeout]);
      return unwrapReply(JSON.parse(JSON.stringify(envelope)) as ReplyEnvelope<TRes>);
    } finally {
      clearTimeout(timer);
    }
  }

  async reply<TReq, TRes>(subject: string, handler: ReplyHandler<TReq, TRes>): Promise<Subscription> {
    this.assertOpen();
    const entry = { pattern: subject, handler: handler as ReplyHandler<unknown, unknown> };
    this.replies.add(entry);
    return { unsubscribe: async () => void this.replies.delete(entry) };
  }

  async health(): Promise<BusHealth> {
    return this.closed ? { ok: false, kind: this.kind, detail: 'bus closed' } : { ok: true, kind: this.kind };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.durables.values(), ...this.ephemeral]) c.closed = true;
    this.core.clear();
    this.replies.clear();
  }

  private assertOpen() {
    if (this.closed) throw new Error('message bus is closed');
  }
}
