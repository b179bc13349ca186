/**
 * MessageBus: the one way CLARA services talk to each other.
 *
 *   const bus = await createMessageBus({ natsUrl: config.NATS_URL, logger });   // NATS JetStream, or in-process when unset
 *   await bus.publish(Subjects.trainingJobEvent(id, 'progress'), payload, { msgId: `${id}:${seq}` });
 *   const sub = await bus.subscribe('clara.training.jobs.>', async (msg) => { ... }, { durable: 'my-service', deliverFrom: 'all' });
 *   await bus.reply(Subjects.datasetSearchRequest, async (req) => ({ ...result }));
 *   const res = await bus.request(Subjects.datasetSearchRequest, { query_text: 'x' }, 5000);
 *   await sub.unsubscribe(); await bus.close();
 *
 * Semantics shared by both implementations:
 * - Subjects inside a JetStream stream (see StreamSubjects in @clara/contracts) are persisted: publish waits for the
 *   stream's ack; subscribe creates a consumer (durable when `durable` is given: resumes where that name stopped,
 *   shared by every subscriber with the same name = work queue). A handler that throws gets the message again later.
 * - Other subjects are core pub/sub: fire-and-forget, only current subscribers see them (`queue` = load-balanced group).
 * - request/reply is core: `reply` handlers answer; a thrown error reaches the requester as BusRemoteError,
 *   no responder → BusNoRespondersError, no answer in time → BusTimeoutError.
 * - Payloads are JSON on the wire in both implementations (Dates arrive as strings).
 */
export interface BusMessage<T = unknown> {
  subject: string;
  data: T;
  /** Stream sequence for persisted subjects. */
  streamSeq?: number;
  /** Times this message was delivered (1 = first time). */
  deliveryCount?: number;
}

export type BusHandler<T = unknown> = (msg: BusMessage<T>) => void | Promise<void>;
export type ReplyHandler<TReq = unknown, TRes = unknown> = (data: TReq, subject: string) => TRes | Promise<TRes>;

export type DeliverFrom = 'new' | 'all' | 'last' | { seq: number } | { time: Date };

export interface SubscribeOptions {
  /** Durable consumer name (persisted subjects only): survives restarts, shared by same-name subscribers. */
  durable?: string;
  /** Where a NEW consumer starts (default 'new'); ignored when the durable already exists. */
  deliverFrom?: DeliverFrom;
  /** Core subjects only: load-balance among subscribers with the same queue name. */
  queue?: string;
  /** Persisted subjects: how long before an un-acked message is redelivered (default 30 s). */
  ackWaitMs?: number;
  /**
   * Persisted subjects, non-durable only: a live feed without acknowledgements (the server tracks none, the client
   * sends none). A handler that throws does not get that message again; the subscription still resumes after the
   * last delivered message when the connection comes back. For consumers that repair gaps themselves.
   */
  noAck?: boolean;
}

export interface PublishOptions {
  /** De-duplication id (JetStream Nats-Msg-Id): a republish with the same id is stored once. */
  msgId?: string;
}

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export interface BusHealth {
  ok: boolean;
  kind: 'nats' | 'in-process';
  detail?: string;
}

export interface MessageBus {
  readonly kind: 'nats' | 'in-process';
  publish<T>(subject: string, payload: T, options?: PublishOptions): Promise<void>;
  subscribe<T>(subjectPattern: string, handler: BusHandler<T>, options?: SubscribeOptions): Promise<Subscription>;
  request<TReq, TRes>(subject: string, payload: TReq, timeoutMs?: number): Promise<TRes>;
  reply<TReq, TRes>(subject: string, handler: ReplyHandler<TReq, TRes>, options?: { queue?: string }): Promise<Subscription>;
  health(): Promise<BusHealth>;
  close(): Promise<void>;
}

export class BusTimeoutError extends Error {
  constructor(subject: string, timeoutMs: number) {
    super(`no reply on ${subject} within ${timeoutMs} ms`);
    this.name = 'BusTimeoutError';
  }
}
export class BusNoRespondersError extends Error {
  constructor(subject: string) {
    super(`no service answers on ${subject}`);
    this.name = 'BusNoRespondersError';
  }
}
export class BusRemoteError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'BusRemoteError';
  }
}

/** Reply envelope on the wire, so remote errors travel as errors. */
export type ReplyEnvelope<T> = { ok: true; data: T } | { ok: false; error: { message: string; status?: number } };

export function toReplyError(err: unknown): ReplyEnvelope<never> {
  const e = err as { message?: string; status?: number; getStatus?: () => number };
  const status = typeof e?.getStatus === 'function' ? e.getStatus() : typeof e?.status === 'number' ? e.status : undefined;
  return { ok: false, error: { message: e?.message ?? String(err), status } };
}

export function unwrapReply<T>(envelope: ReplyEnvelope<T>): T {
  if (envelope && envelope.ok === true) return envelope.data;
  if (envelope && envelope.ok === false) throw new BusRemoteError(envelope.error.message, envelope.error.status);
  throw new BusRemoteError('malformed reply');
}

/** NATS subject matching: `*` = one token, `>` = one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** True when every subject matching `inner` also matches `outer` (used to find the stream of a pattern). */
export function patternWithin(outer: string, inner: string): boolean {
  const o = outer.split('.');
  const i = inner.split('.');
  for (let k = 0; k < o.length; k++) {
    if (o[k] === '>') return i.length > k;
    if (k >= i.length) return false;
    if (i[k] === '>') return false;
    if (o[k] !== '*' && o[k] !== i[k]) return false;
  }
  return o.length === i.length;
}

/** Name of the stream that persists `subjectOrPattern`, or undefined for core subjects. */
export function streamFor(streams: Record<string, readonly string[]>, subjectOrPattern: string): string | undefined {
  for (const [name, patterns] of Object.entries(streams)) {
    if (patterns.some((p) => patternWithin(p, subjectOrPattern))) return name;
  }
  return undefined;
}
