import { describe, expect, it } from 'vitest';
import { InProcessBus } from './bus/in-process-bus.js';
import { openAppInfrastructure } from './app-infrastructure.js';
import type { SharedDataSource } from './database/data-source.js';
import { createLogger } from './logger.js';

const logger = createLogger('test', { level: 'error' });

/** A handed-in database whose schema step fails, recording what bootstrap did to it. */
function brokenDb(calls: string[]): SharedDataSource {
  return {
    extend: async () => {
      calls.push('extend');
      throw new Error('migration failed');
    },
    release: async () => void calls.push('release'),
  } as unknown as SharedDataSource;
}

describe('openAppInfrastructure', () => {
  it('a failing schema step rethrows and leaves a handed-in database unreleased', async () => {
    const calls: string[] = [];
    const db = brokenDb(calls);
    await expect(openAppInfrastructure({ db, busName: 't', pgDir: '/nonexistent', schema: {}, logger })).rejects.toThrow('migration failed');
    expect(calls).toEqual(['extend']);
  });

  it('release() leaves a handed-in bus and database open', async () => {
    const bus = new InProcessBus({ logger });
    const calls: string[] = [];
    const db = { extend: async () => void calls.push('extend'), release: async () => void calls.push('release') } as unknown as SharedDataSource;
    const infra = await openAppInfrastructure({ bus, db, busName: 't', pgDir: '/nonexistent', schema: {}, logger });
    expect(infra.bus).toBe(bus);
    await infra.release();
    expect(calls).toEqual(['extend']);
    const got: unknown[] = [];
    await bus.subscribe('clara.test.still-open', (m) => void got.push(m));
    await bus.publish('clara.test.still-open', { ok: true });
    await expect.poll(() => got.length).toBe(1);
    await bus.close();
  });
});
