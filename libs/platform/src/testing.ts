/**
 * Helpers for integration tests against the real local services (import from '@clara/platform/testing').
 *
 *   const db = await createTestDatabase('training');     // CREATE DATABASE clara_training_<random>
 *   ... use db.url ...
 *   await db.drop();                                    // in afterAll
 *
 * Services are found at TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) and
 * TEST_NATS_URL (default nats://127.0.0.1:4222). A missing service makes the test FAIL with a clear message.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const name = `clara_${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`integration tests need PostgreSQL at ${TEST_POSTGRES_URL}: ${(err as Error).message}`);
  }
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Unique suffix for stream consumers / subjects in tests sharing one NATS server. */
export function uniqueId(prefix = 't'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}
