/**
 * /ws/training: live job events for browsers and tools.
 *
 * One bus subscription per API instance feeds every connection. Each connection has a serial delivery queue
 * and remembers the last seq it sent per job, so that:
 *  - a subscribe with a resume point first replays stored events (from the outbox table, up to the relay's
 *    published cursor), then continues live — every event exactly once, in order;
 *  - a live event that skips a seq the client should have (e.g. it arrived during a reconnect) triggers a
 *    fill from the table before it is sent.
 * Dead connections are dropped by ping/pong; a client that cannot keep up (8 MB unsent) is disconnected.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { Subjects, toJobUpdate, type ClientMessage, type TrainingJobEvent } from '@clara/contracts';
import type { TrainingJobRepository } from '@clara/data-access';
import type { Logger, MessageBus, Subscription } from '@clara/platform';

export const WS_PATH = '/ws/training';
const MAX_BUFFERED = 8 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface WsUser {
  email: string;
}

/** Verifies the upgrade request (token in Sec-WebSocket-Protocol or ?access_token); throws {status,message} to refuse. */
export type WsAuthenticator = (req: IncomingMessage) => Promise<WsUser>;

interface Conn {
  ws: WebSocket;
  /** The connection's TCP socket: live events are written to it as pre-built frames (see deliverNow). */
  socket: Duplex;
  user: WsUser;
  all: boolean;
  jobs: Set<string>;
  /** Last seq sent per job. */
  sent: Map<string, number>;
  /** All-jobs resume: events at or below this id were seen before. */
  floor: number;
  queue: Promise<void>;
  /** Tasks (replays, gap fills) queued on `queue`; live events bypass the queue when it is 0. */
  pending: number;
  alive: boolean;
}

export class TrainingEventsHub {
  private readonly wss: WebSocketServer;
  private readonly conns = new Set<Conn>();
  private sub?: Subscription;
  private pinger?: NodeJS.Timeout;
  /** One encoded WebSocket frame per event, shared by every connection it goes to. */
  private readonly encoded = new WeakMap<TrainingJobEvent, Buffer>();

  constructor(
    private readonly jobs: TrainingJobRepository,
    private readonly bus: MessageBus,
    private readonly authenticate: WsAuthenticator,
    private readonly logger: Logger,
    private readonly options: { pingIntervalMs: number; handleProtocols?: (p: Set<string>) => string | false },
  ) {
    // No permessage-deflate: frames are written straight to the socket, which needs ws' sender to hold no state.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false, handleProtocols: options.handleProtocols });
  }

  async start(server: Server) {
    // noAck: the hub repairs gaps itself (per-job seq, filled from the outbox table), so the bus need not track
    // acknowledgements for it; a consumer that acked every event cost the server and this process per job event.
    this.sub = await this.bus.subscribe<TrainingJobEvent>(Subjects.trainingJobEventsAll, (m) => this.onEvent(m.data), { noAck: true });
    server.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket, head));
    this.pinger = setInterval(() => {
      for (const c of this.conns) {
        if (!c.alive) {
          c.ws.terminate();
          continue;
        }
        c.alive = false;
        c.ws.ping();
      }
    }, this.options.pingIntervalMs);
    this.pinger.unref();
  }

  get connectionCount() {
    return this.conns.size;
  }

  async stop() {
    clearInterval(this.pinger);
    await this.sub?.unsubscribe();
    for (const c of this.conns) c.ws.close(1001, 'server shutting down');
    this.wss.close();
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== WS_PATH) return; // another handler (or none) owns this path
    let user: WsUser;
    try {
      user = await this.authenticate(req);
    } catch (err) {
      const { status = 401, message = 'unauthorized' } = err as { status?: number; message?: string };
      const body = JSON.stringify({ statusCode: status, message });
      socket.end(`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : status === 503 ? 'Service Unavailable' : 'Unauthorized'}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, user));
  }

  private onConnection(ws: WebSocket, socket: Duplex, user: WsUser) {
    const c: Conn = { ws, socket, user, all: false, jobs: new Set(), sent: new Map(), floor: 0, queue: Promise.resolve(), pending: 0, alive: true };
    this.conns.add(c);
    ws.on('pong', () => (c.alive = true));
    ws.on('close', () => this.conns.delete(c));
    ws.on('error', () => this.conns.delete(c));
    ws.on('message', (raw, isBinary) => {
      c.alive = true;
      if (isBinary) return this.send(c, { type: 'error', message: 'send JSON text messages' });
      let msg: ClientMessage;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return this.send(c, { type: 'error', message: 'message is not valid JSON' });
      }
      this.onMessage(c, msg);
    });
    this.send(c, { type: 'welcome', user: user.email, server_time: new Date().toISOString() });
  }

  private onMessage(c: Conn, msg: ClientMessage) {
    if (!msg || typeof msg !== 'object') return this.send(c, { type: 'error', message: 'message must be a JSON object' });
    switch (msg.type) {
      case 'ping':
        return this.send(c, { type: 'pong', server_time: new Date().toISOString() });
      case 'unsubscribe': {
        if (msg.job_ids !== undefined && (!Array.isArray(msg.job_ids) || !msg.job_ids.every((j) => typeof j === 'string'))) {
          return this.send(c, { type: 'error', message: 'job_ids must be an array of job ids' });
        }
        if (!msg.job_ids) {
          c.all = false;
          c.jobs.clear();
        } else for (const j of msg.job_ids) c.jobs.delete(j);
        return this.send(c, { type: 'unsubscribed', job_ids: msg.job_ids ?? 'all' });
      }
      case 'subscribe':
        return this.subscribe(c, msg);
      default:
        return this.send(c, { type: 'error', message: 'type must be subscribe, unsubscribe or ping' });
    }
  }

  private subscribe(c: Conn, msg: Extract<ClientMessage, { type: 'subscribe' }>) {
    if ('all' in msg && msg.all === true) {
      const after = msg.after_event_id;
      if (after !== undefined && (!Number.isInteger(after) || after < 0)) {
        return this.send(c, { type: 'error', message: 'after_event_id must be a non-negative integer' });
      }
      c.all = true;
      if (after === undefined) return this.send(c, { type: 'subscribed', all: true, job_ids: [], replayed: 0 });
      c.floor = Math.max(c.floor, after);
      return this.enqueue(c, async () => {
        let replayed = 0;
        const upTo = await this.jobs.publishedCursor();
        for (let cursor = after; ; ) {
          const page = await this.jobs.eventsAfterId(cursor, upTo, null, 1000);
          for (const e of page) replayed += this.deliverNow(c, e) ? 1 : 0;
          if (page.length < 1000) break;
          cursor = page[page.length - 1].event_id;
        }
        c.floor = Math.max(c.floor, upTo);
        this.send(c, { type: 'subscribed', all: true, job_ids: [], replayed });
      });
    }
    const m = msg as { job_ids?: unknown; last_seq?: unknown };
    if (!Array.isArray(m.job_ids) || m.job_ids.length === 0 || m.job_ids.length > 1000 || !m.job_ids.every((j) => typeof j === 'string' && UUID.test(j))) {
      return this.send(c, { type: 'error', message: 'subscribe needs all: true or job_ids: an array of 1-1000 job UUIDs' });
    }
    const lastSeq = (m.last_seq ?? {}) as Record<string, unknown>;
    if (typeof lastSeq !== 'object' || Array.isArray(lastSeq) || Object.values(lastSeq).some((v) => !Number.isInteger(v) || (v as number) < 0)) {
      return this.send(c, { type: 'error', message: 'last_seq must map job ids to non-negative integers' });
    }
    const ids = m.job_ids as string[];
    for (const id of ids) c.jobs.add(id);
    this.enqueue(c, async () => {
      const from: Record<string, number> = {};
      for (const id of ids) from[id] = Math.max((lastSeq[id] as number | undefined) ?? 0, c.sent.get(id) ?? 0);
      for (const id of ids) c.sent.set(id, from[id]);
      const upTo = await this.jobs.publishedCursor();
      const events = await this.jobs.eventsAfterSeqs(from, upTo, 100_000);
      let replayed = 0;
      for (const e of events) replayed += this.deliverNow(c, e) ? 1 : 0;
      this.send(c, { type: 'subscribed', all: c.all, job_ids: ids, replayed });
    });
  }

  private onEvent(e: TrainingJobEvent) {
    for (const c of this.conns) {
      if (!(c.all || c.jobs.has(e.job_id))) continue;
      const last = c.sent.get(e.job_id);
      if (c.pending === 0 && (last === undefined || e.seq <= last + 1)) {
        // Fast path: nothing queued for this connection and no gap — send now, in order.
        this.deliverNow(c, e);
        continue;
      }
      this.enqueue(c, async () => {
        const last = c.sent.get(e.job_id);
        if (last !== undefined && e.seq > last + 1) {
          // Missed events (reconnect window): fill from the table, in order, before this one.
          const missing = await this.jobs.events(e.job_id, last, e.seq - last - 1);
          for (const m of missing) this.deliverNow(c, m);
        }
        this.deliverNow(c, e);
      });
    }
  }

  /** Sends unless already sent; returns whether it was sent. Runs inside the connection's queue. */
  private deliverNow(c: Conn, e: TrainingJobEvent): boolean {
    if (!(c.all || c.jobs.has(e.job_id))) return false;
    const last = c.sent.get(e.job_id);
    if (last !== undefined && e.seq <= last) return false;
    if (last === undefined && c.all && e.event_id <= c.floor) return false;
    c.sent.set(e.job_id, e.seq);
    let frame = this.encoded.get(e);
    if (!frame) this.encoded.set(e, (frame = textFrame(JSON.stringify(toJobUpdate(e)))));
    this.sendFrame(c, frame);
    return true;
  }

  private enqueue(c: Conn, task: () => Promise<void>) {
    c.pending++;
    c.queue = c.queue
      .then(task)
      .catch((err) => {
        this.logger.warn('websocket delivery failed; closing the connection so the client resumes', { err: err as Error });
        c.ws.close(1011, 'delivery failed, reconnect and resume');
      })
      .finally(() => c.pending--);
  }

  private send(c: Conn, message: object) {
    this.sendText(c, JSON.stringify(message));
  }

  private sendText(c: Conn, text: string) {
    if (this.writable(c, c.ws.bufferedAmount)) c.ws.send(text);
  }

  /**
   * A job event goes to every subscriber as the same Buffer: ws.send would re-encode the text and build a header
   * per socket. Safe to interleave with ws' own writes: without permessage-deflate ws writes every frame to the
   * socket synchronously, so frames never interleave partially.
   */
  private sendFrame(c: Conn, frame: Buffer) {
    if (this.writable(c, c.socket.writableLength)) c.socket.write(frame);
  }

  /** Open and keeping up; a client more than MAX_BUFFERED behind is closed (it resumes from its last seq). */
  private writable(c: Conn, buffered: number): boolean {
    if (c.ws.readyState !== WebSocket.OPEN) return false;
    if (buffered > MAX_BUFFERED) {
      c.ws.close(1013, 'client too slow; reconnect and resume');
      return false;
    }
    return true;
  }
}

/** An unmasked, final, text WebSocket frame (RFC 6455 §5.2) holding `text`: what a server sends. */
export function textFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const n = payload.length;
  const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + n);
  frame[0] = 0x81; // FIN + opcode 1 (text)
  if (n < 126) frame[1] = n;
  else if (n < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}
