/**
 * A `pg` connection to an embedded PGlite engine without a socket.
 *
 * Over pglite-socket, every statement crosses the loopback twice, and the socket server hands PGlite each protocol
 * message (Parse, Bind, Describe, Execute, Sync) on its own: five waits and five runs of the engine per statement.
 * This stream gives `pg` the same byte protocol in memory and runs each batch of messages that `pg` writes at
 * once (a whole statement) in one run of the engine. `pg`, TypeORM and every query stay as they are.
 *
 *   new pg.Pool({ ..., stream: () => new InProcessConnection(executor) })
 */
import { Duplex } from 'node:stream';

/** Runs complete frontend protocol messages on the engine's one session. */
export interface ProtocolExecutor {
  /** Runs `messages` for connection `connection` in one turn of the engine; resolves with the engine's answer. */
  exec(connection: number, messages: Uint8Array): Promise<Uint8Array>;
  /** The connection has closed: if it left the session inside a transaction, roll it back. */
  closed(connection: number): Promise<void>;
}

/** PostgreSQL's SSLRequest code: answered 'N' (no TLS in memory). */
const SSL_REQUEST = 80877103;

/** Ids of in-process connections, distinct from each other within the process. */
let connectionIds = 0;

/**
 * The socket-like Duplex `pg` expects (connect, setNoDelay, setKeepAlive, ref, unref, write, end, destroy and the
 * 'connect', 'data', 'close' events). Writes are framed into complete messages; each complete run of them is
 * executed in order, one run at a time, and the answer is pushed as received data.
 */
export class InProcessConnection extends Duplex {
  readonly id = ++connectionIds;
  private pending: Buffer = Buffer.alloc(0);
  /** The first message (startup or SSLRequest) has no type byte. */
  private started = false;
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(private readonly executor: ProtocolExecutor) {
    super();
  }

  connect(): this {
    queueMicrotask(() => this.emit('connect'));
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.frame(chunk);
    done();
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.frame(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)));
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.close().then(
      () => {
        this.push(null);
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.close().then(
      () => done(err),
      () => done(err),
    );
  }

  /** Tells the engine once, after the queued statements, whether the stream ends or is destroyed (or both). */
  private close(): Promise<void> {
    this.closing ??= this.queue.then(() => this.executor.closed(this.id));
    return this.closing;
  }

  /** Appends written bytes and queues every complete message; a partial one waits for the rest. */
  private frame(chunk: Buffer): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let begin = 0;
    let end = 0;
    let terminate = false;
    for (;;) {
      if (!this.started) {
        if (buf.length - end < 8) break;
        const length = buf.readInt32BE(end);
        if (buf.length - end < length) break;
        end += length;
        if (buf.readInt32BE(end - length + 4) === SSL_REQUEST) {
          // no TLS in memory; the startup message follows
          this.queue = this.queue.then(() => void this.push(Buffer.from('N')));
          begin = end;
        } else this.started = true;
        continue;
      }
      if (buf.length - end < 5) break;
      const length = 1 + buf.readInt32BE(end + 1);
      if (buf.length - end < length) break;
      // terminate ('X', always a connection's last message) is not for the engine: other connections go on
      // using PGlite's one session
      terminate = buf[end] === 0x58;
      end += length;
    }
    this.pending = buf.subarray(end);
    const run = buf.subarray(begin, terminate ? end - 5 : end);
    if (run.length === 0) return;
    this.queue = this.queue.then(async () => {
      if (this.destroyed) return;
      try {
        const answer = await this.executor.exec(this.id, run);
        // Handed over on the next turn of the event loop: an engine on this thread answers within promise jobs
        // alone, and a caller that awaits one statement after another (a warm-up reading hundreds) would otherwise
        // keep timers and sockets (HTTP requests) waiting until its very last statement.
        await new Promise((resolve) => setImmediate(resolve));
        if (answer.length) this.push(answer);
      } catch (err) {
        this.destroy(err as Error);
      }
    });
  }
}
