// acquireDataSource against the real local PostgreSQL (a database made for this file) and the embedded PGlite.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Column, Entity, PrimaryGeneratedColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { acquireDataSource } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from '../src/testing.js';

@Entity('platform_note')
class Note {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') body: string;
}
@Entity('platform_tag')
class Tag {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') name: string;
}
class CreateNote1700000000001 implements MigrationInterface {
  name = 'CreateNote1700000000001';
  async up(q: QueryRunner) {
    await q.query('CREATE TABLE platform_note (id serial PRIMARY KEY, body text NOT NULL)');
  }
  async down(q: QueryRunner) {
    await q.query('DROP TABLE platform_note');
  }
}
class CreateTag1700000000002 implements MigrationInterface {
  name = 'CreateTag1700000000002';
  async up(q: QueryRunner) {
    await q.query('CREATE TABLE platform_tag (id serial PRIMARY KEY, name text NOT NULL)');
  }
  async down(q: QueryRunner) {
    await q.query('DROP TABLE platform_tag');
  }
}

describe('acquireDataSource on PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('platform');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('migrates, shares one DataSource per URL and merges a second app’s entities', async () => {
    const a = await acquireDataSource({ url: db.url, entities: [Note], migrations: [CreateNote1700000000001] });
    const b = await acquireDataSource({ url: db.url, entities: [Tag], migrations: [CreateTag1700000000002] });
    expect(b.dataSource).toBe(a.dataSource);
    expect(a.embedded).toBe(false);
    await a.dataSource.getRepository(Note).save({ body: 'hello' });
    await b.dataSource.getRepository(Tag).save({ name: 't' });
    expect(await a.dataSource.getRepository(Note).count()).toBe(1);
    const applied = await a.dataSource.query('SELECT name FROM clara_migrations ORDER BY id');
    expect(applied.map((r: { name: string }) => r.name)).toEqual(['CreateNote1700000000001', 'CreateTag1700000000002']);
    expect(await a.ping()).toEqual({ ok: true });
    await a.release();
    expect(b.dataSource.isInitialized).toBe(true); // still used by b
    await b.release();
    expect(b.dataSource.isInitialized).toBe(false);
  });

  it('names the database in a connection failure without leaking the password', async () => {
    await expect(acquireDataSource({ url: 'postgres://u:pw@127.0.0.1:1/nope', entities: [Note] })).rejects.toThrow(
      /cannot connect to PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/nope/,
    );
  });
});

describe('acquireDataSource embedded (PGlite)', () => {
  const base = mkdtempSync(join(tmpdir(), 'clara-pglite-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it.each(['main', 'worker'] as const)('runs the same TypeORM code, keeps data across reopen, serialises transactions and has pgvector + pg_trgm (engine on the %s thread)', async (thread) => {
    const dir = mkdtempSync(join(base, `${thread}-`));
    const embeddedThread = thread;
    writeFileSync(join(dir, 'clara.pid'), '999999'); // stale lock of a process that is gone: taken over
    const a = await acquireDataSource({ dataDir: dir, entities: [Note], migrations: [CreateNote1700000000001], embeddedThread });
    expect(a.embedded).toBe(true);
    expect(readFileSync(join(dir, 'clara.pid'), 'utf8')).toBe(String(process.pid));
    const ds = a.dataSource;
    // Two concurrent transactions on the one-connection pool: neither sees the other's uncommitted work.
    await Promise.all(
      [1, 2].map((n) =>
        ds.transaction(async (m) => {
          await m.getRepository(Note).save({ body: `tx${n}` });
          const mine = await m.getRepository(Note).find();
          expect(mine.map((x) => x.body)).toContain(`tx${n}`);
        }),
      ),
    );
    // a named (prepared) statement still runs after the pool replaced its connection: every connection shares
    // PGlite's one session, where the old connection's statement still exists
    const pool = (ds.driver as unknown as { master: import('pg').Pool }).master;
    const named = (x: number) => pool.query({ name: 'platform_named', text: 'SELECT $1::int AS x', values: [x] });
    expect((await named(1)).rows).toEqual([{ x: 1 }]);
    (await pool.connect()).release(true); // the client is destroyed, as after a connection error
    expect((await named(2)).rows).toEqual([{ x: 2 }]);
    const ext = await ds.query(`SELECT extname FROM pg_extension WHERE extname IN ('vector','pg_trgm') ORDER BY extname`);
    expect(ext.map((r: { extname: string }) => r.extname)).toEqual(['pg_trgm', 'vector']);
    expect((await ds.query(`SELECT '[1,2,3]'::vector <=> '[1,2,3]'::vector AS d`))[0].d).toBe(0);
    await a.release();
    expect(existsSync(join(dir, 'clara.pid'))).toBe(false);
    const again = await acquireDataSource({ dataDir: dir, entities: [Note], migrations: [CreateNote1700000000001], embeddedThread });
    expect((await again.dataSource.getRepository(Note).find()).map((n) => n.body).sort()).toEqual(['tx1', 'tx2']);
    await again.release();
  });

  it.each(['main', 'worker'] as const)('in-memory connections (engine on the %s thread): large answers arrive whole, an abandoned transaction is rolled back, the socket still serves other clients', async (embeddedThread) => {
    const db = await acquireDataSource({ dataDir: mkdtempSync(join(base, `conn-${embeddedThread}-`)), embeddedThread });
    try {
      const ds = db.dataSource;
      // 60,000 rows of 100 bytes: an answer of many chunks from the engine
      const rows: { g: number; pad: string }[] = await ds.query(`SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 60000) g`);
      expect(rows.length).toBe(60000);
      expect(rows[59999]).toEqual({ g: 60000, pad: 'x'.repeat(100) });
      await ds.query(`CREATE TABLE conn_probe (n int)`);
      // a client that goes away inside a transaction (its connection destroyed, as after a network error on a
      // server) must not leave PGlite's one session in that transaction for the next connection
      const pool = (ds.driver as unknown as { master: import('pg').Pool }).master;
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query('INSERT INTO conn_probe VALUES (1)');
      client.release(true);
      await expect(ds.query(`SELECT count(*)::int AS n FROM conn_probe`)).resolves.toEqual([{ n: 0 }]);
      await ds.transaction(async (m) => m.query('INSERT INTO conn_probe VALUES (2)'));
      // other clients use the socket, on the same session
      const other = new pg.Client({ connectionString: db.url });
      await other.connect();
      try {
        expect((await other.query(`SELECT array_agg(n)::int[] AS n FROM conn_probe`)).rows).toEqual([{ n: [2] }]);
      } finally {
        await other.end();
      }
      // an error answered by the engine fails that query only
      await expect(ds.query(`SELECT no_such_column FROM conn_probe`)).rejects.toThrow(/no_such_column/);
      await expect(ds.query(`SELECT count(*)::int AS n FROM conn_probe`)).resolves.toEqual([{ n: 1 }]);
    } finally {
      await db.release();
    }
  });

  it('in a worker thread, a long query leaves the event loop of the calling thread free', async () => {
    const db = await acquireDataSource({ dataDir: mkdtempSync(join(base, 'busy-')), embeddedThread: 'worker' });
    try {
      const started = performance.now();
      let timerFiredAfter = Infinity;
      const timer = new Promise<void>((done) => setTimeout(() => ((timerFiredAfter = performance.now() - started), done()), 20));
      await Promise.all([db.dataSource.query(`SELECT count(*) FROM generate_series(1, 3000000)`), timer]);
      const queryTook = performance.now() - started;
      // the engine computes in its own thread: the 20 ms timer fires on time, long before the query ends
      expect(queryTook).toBeGreaterThan(150);
      expect(timerFiredAfter).toBeLessThan(queryTook / 2);
    } finally {
      await db.release();
    }
  });

  it('on this thread, statements awaited one after another still let timers and sockets in between them', async () => {
    const db = await acquireDataSource({ dataDir: mkdtempSync(join(base, 'turns-')), embeddedThread: 'main' });
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const started = performance.now();
      // a warm-up's pattern: one short statement after another for well over the timer's period
      while (performance.now() - started < 100) await db.dataSource.query(`SELECT 1`);
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(10);
    } finally {
      await db.release();
    }
  });

  it('refuses a data directory that another live process holds', async () => {
    const other = mkdtempSync(join(tmpdir(), 'clara-pglite-lock-'));
    try {
      writeFileSync(join(other, 'clara.pid'), String(process.ppid)); // a live process that is not us
      await expect(acquireDataSource({ dataDir: other, entities: [Note] })).rejects.toThrow(/in use by process \d+.*DATABASE_URL/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
