import { describe, expect, it } from 'vitest';
import { AdapterError, AdapterPool } from './adapter-pool.js';
import { ReferenceModel } from './reference-model.js';
import { randomLora, randomWeights, tinyConfig } from './testing.js';

const config = tinyConfig({ numLayers: 1 });

function setup(numSlots = 3) {
  const runner = new ReferenceModel(config, randomWeights(config, 1), numSlots);
  const loads: string[] = [];
  const evicted: string[] = [];
  const pool = new AdapterPool(
    runner,
    async (src) => {
      loads.push(`${src.path}@${src.version}`);
      if (src.path === 'broken') throw new Error('no such dir');
      return randomLora(config, src.path.length + Number(src.version), 2);
    },
    { onEvict: (n) => evicted.push(n) },
    200,
  );
  return { pool, loads, evicted };
}

describe('AdapterPool', () => {
  it('evicts the least recently used idle adapter and reloads it on its next request', async () => {
    const { pool, loads, evicted } = setup(3); // two adapter slots
    await pool.register('a', { path: 'pa', version: '1' });
    await pool.register('b', { path: 'pb', version: '1' });
    (await pool.acquire('a')).release(); // a is now more recent than b
    await pool.register('c', { path: 'pc', version: '1' });
    expect(evicted).toEqual(['b']);
    expect(pool.list().map((a) => [a.name, a.resident])).toEqual([
      ['a', true],
      ['b', false],
      ['c', true],
    ]);
    const lease = await pool.acquire('b');
    expect(evicted).toEqual(['b', 'a']);
    expect(loads.filter((l) => l === 'pb@1')).toHaveLength(2);
    lease.release();
  });

  it('never evicts a pinned adapter', async () => {
    const { pool, evicted } = setup(3);
    await pool.register('keep', { path: 'pk', version: '1' }, { pinned: true });
    await pool.register('x', { path: 'px', version: '1' });
    await pool.register('y', { path: 'py', version: '1' });
    await pool.register('z', { path: 'pz', version: '1' });
    expect(evicted).toEqual(['x', 'y']);
    expect(pool.list().find((a) => a.name === 'keep')!.resident).toBe(true);
  });

  it('hot swap: running leases keep their version and slot, new leases get the new one', async () => {
    const { pool } = setup(4);
    await pool.register('m', { path: 'pm', version: '1' });
    const old = await pool.acquire('m');
    await pool.register('m', { path: 'pm', version: '2' });
    const fresh = await pool.acquire('m');
    expect(old.version).toBe('1');
    expect(fresh.version).toBe('2');
    expect(fresh.slot).not.toBe(old.slot);
    expect(pool.residentCount()).toBe(2); // the old version stays until its lease ends
    old.release();
    expect(pool.residentCount()).toBe(1);
    fresh.release();
  });

  it('answers 404 for unknown adapters and 400 for unloadable ones', async () => {
    const { pool } = setup();
    await expect(pool.acquire('nope')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(pool.register('bad', { path: 'broken', version: '1' })).rejects.toBeInstanceOf(AdapterError);
    expect(pool.has('bad')).toBe(false);
  });

  it('waits for a slot when every slot is leased, and times out with 503', async () => {
    const { pool } = setup(2); // one adapter slot
    await pool.register('a', { path: 'pa', version: '1' });
    pool.declare('b', { path: 'pb', version: '1' });
    const lease = await pool.acquire('a');
    const waiting = pool.acquire('b');
    setTimeout(() => lease.release(), 50);
    const b = await waiting;
    expect(b.slot).toBe(1);
    await expect(pool.acquire('a')).rejects.toMatchObject({ status: 503 });
    b.release();
  });
});
