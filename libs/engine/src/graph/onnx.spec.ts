import { mkdtemp, rm, stat, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomArray } from './gradcheck.js';
import { Graph } from './ir.js';
import { type ExternalPlan, toOnnx } from './onnx.js';
import * as F from './ops.js';
import { Session } from './runtime.js';

describe('ONNX emission', () => {
  it('big initializers can live in an external data file next to the model and give the same result', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clara-onnx-'));
    try {
      const g = new Graph('ext');
      const x = g.input('x', 'float32', [2, 300]);
      const w = g.initializer('w', 'float32', [200, 300], Float32Array.from(randomArray(60000, 1)));
      const b = g.initializer('b', 'float32', [200], Float32Array.from(randomArray(200, 2)));
      const y = F.gemm(g, x, w, { transB: true, c: b });
      g.output(y);
      const inline = await Session.create(toOnnx(g), { intraOpNumThreads: 1 });
      const ext: ExternalPlan = { location: 'model.weights', minBytes: 1024, chunks: [], offset: 0 };
      const bytes = toOnnx(g, ext);
      expect(bytes.byteLength).toBeLessThan(10_000); // w went out, b (800 bytes) stayed inline
      await writeFile(join(dir, 'model.onnx'), bytes);
      const fh = await open(join(dir, 'model.weights'), 'w');
      for (const c of ext.chunks) await fh.write(c);
      await fh.close();
      expect((await stat(join(dir, 'model.weights'))).size).toBe(240000);
      const external = await Session.create(join(dir, 'model.onnx'), { intraOpNumThreads: 1 });
      const feeds = { x: { dtype: 'float32' as const, dims: [2, 300], data: Float32Array.from(randomArray(600, 3)) } };
      const a = (await inline.run(feeds))[y]!.data as Float32Array;
      const e = (await external.run(feeds))[y]!.data as Float32Array;
      expect(Array.from(e)).toEqual(Array.from(a));
      await inline.release();
      await external.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
