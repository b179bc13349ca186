import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertExecutionProvider, CUDA_INSTALL_HELP } from './execution-provider.js';
import { Graph } from './ir.js';
import { toOnnx } from './onnx.js';
import { identity } from './ops.js';
import { ortSessionOptions, Session } from './runtime.js';

const gpuHost = () => existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia');

describe('execution provider', () => {
  it('cuda puts the CUDA provider first in the onnxruntime session options (CPU for nodes it has no kernel for)', () => {
    expect(ortSessionOptions({ executionProvider: 'cuda', intraOpNumThreads: 3 })).toMatchObject({ executionProviders: ['cuda', 'cpu'], intraOpNumThreads: 3 });
    // cpu / unset: onnxruntime's default provider list, i.e. CPU only, as before the option existed
    expect(ortSessionOptions({ executionProvider: 'cpu' }).executionProviders).toBeUndefined();
    expect(ortSessionOptions().executionProviders).toBeUndefined();
  });

  it('a cuda Session really asks onnxruntime for CUDA: it opens on a GPU host, elsewhere onnxruntime fails loading its CUDA provider', async () => {
    const g = new Graph('ep_probe');
    g.input('x', 'float32', [1]);
    g.output(identity(g, 'x'));
    const result = await Session.create(toOnnx(g), { executionProvider: 'cuda', intraOpNumThreads: 1 }).then(
      async (s) => (await s.release(), 'opened'),
      (err: Error) => err.message,
    );
    if (result === 'opened') expect(gpuHost()).toBe(true);
    else expect(result).toMatch(/Cuda|CUDA|providers_(cuda|shared)/);
    // the same graph on cpu opens anywhere
    await (await Session.create(toOnnx(g), { executionProvider: 'cpu', intraOpNumThreads: 1 })).release();
  });

  it('the start-up check passes cpu and fails cuda without its libraries, naming the setting and how to install them', async () => {
    await expect(assertExecutionProvider('cpu', 'X')).resolves.toBeUndefined();
    const result = await assertExecutionProvider('cuda', '--execution-provider').then(
      () => 'ok',
      (err: Error) => err.message,
    );
    if (result === 'ok') expect(gpuHost()).toBe(true);
    else {
      expect(result).toMatch(/^--execution-provider=cuda but /);
      expect(result).toContain(CUDA_INSTALL_HELP);
      expect(result).toMatch(/ONNXRUNTIME_NODE_INSTALL=1 npm rebuild onnxruntime-node/);
    }
  });
});
