import { describe, expect, it } from 'vitest';
import { InProcessConnection, type ProtocolExecutor } from './in-process-connection.js';

/** A frontend message: type byte, int32 length (itself included), body. */
const message = (type: string, body: string) => {
  const b = Buffer.from(body);
  const out = Buffer.alloc(5 + b.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
};
/** The startup message has no type byte. */
const startup = () => {
  const out = Buffer.alloc(12);
  out.writeInt32BE(12, 0);
  out.writeInt32BE(196608, 4); // protocol 3.0
  return out;
};

/** Records what reaches the engine and answers each run with its own number. */
function recordingExecutor() {
  const runs: Buffer[] = [];
  const closed: number[] = [];
  const executor: ProtocolExecutor = {
    async exec(_connection, messages) {
      runs.push(Buffer.from(messages));
      return Buffer.from(`answer ${runs.length};`);
    },
    async closed(connection) {
      closed.push(connection);
    },
  };
  return { executor, runs, closed };
}

const received = (conn: InProcessConnection) => {
  const chunks: Buffer[] = [];
  conn.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
};
const settle = () => new Promise((r) => setTimeout(r, 10));

describe('InProcessConnection', () => {
  it('hands the engine whole messages only, however the bytes were split, in the order written', async () => {
    const { executor, runs } = recordingExecutor();
    const conn = new InProcessConnection(executor);
    const answers = received(conn);
    const statement = Buffer.concat([message('P', 'parse'), message('B', 'bind'), message('E', 'exec'), message('S', '')]);
    const bytes = Buffer.concat([startup(), statement, message('Q', 'SELECT 1\0')]);
    // byte by byte for the first 20 bytes (a partial startup, then a partial message), the rest in two pieces
    for (let i = 0; i < 20; i++) conn.write(bytes.subarray(i, i + 1));
    conn.write(bytes.subarray(20, 40));
    conn.write(bytes.subarray(40));
    await settle();
    expect(Buffer.concat(runs)).toEqual(bytes);
    for (const run of runs) {
      // every run is a sequence of complete messages
      let at = 0;
      if (run.equals(startup())) continue;
      while (at < run.length) at += 1 + run.readInt32BE(at + 1);
      expect(at).toBe(run.length);
    }
    expect(answers()).toBe(runs.map((_, i) => `answer ${i + 1};`).join(''));
  });

  it('answers an SSL request with N without the engine, and keeps terminate from the shared session', async () => {
    const { executor, runs, closed } = recordingExecutor();
    const conn = new InProcessConnection(executor);
    const answers = received(conn);
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(80877103, 4);
    conn.write(ssl);
    conn.write(startup());
    conn.write(message('X', ''));
    await settle();
    expect(answers()).toBe('N' + 'answer 1;');
    expect(runs).toEqual([startup()]);
    conn.end();
    await new Promise((r) => conn.on('close', r).resume());
    // the engine is told once (the stream ends, then is destroyed), so it can roll back an abandoned transaction
    expect(closed).toEqual([conn.id]);
  });

  it('fails the connection (not the process) when the engine throws', async () => {
    const conn = new InProcessConnection({
      exec: async () => {
        throw new Error('engine gone');
      },
      closed: async () => undefined,
    });
    const failed = new Promise<Error>((r) => conn.on('error', r));
    conn.write(startup());
    expect((await failed).message).toBe('engine gone');
  });
});
