import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readWorkerConfig } from '../config.js';
import { assertExecutionProvider, CUDA_INSTALL_HELP } from './execution-provider.js';

describe('CLARA_EXECUTION_PROVIDER', () => {
  it('cpu always works', async () => {
    await expect(assertExecutionProvider('cpu')).resolves.toBeUndefined();
  });

  it('cuda opens a real CUDA session, or fails at start with install instructions', async () => {
    const result = await assertExecutionProvider('cuda').then(
      () => 'ok',
      (err: Error) => err.message,
    );
    if (result === 'ok') {
      // a host with the CUDA provider: a session really opened on it
      expect(existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia')).toBe(true);
    } else {
      expect(result).toMatch(/^CLARA_EXECUTION_PROVIDER=cuda but /);
      expect(result).toContain(CUDA_INSTALL_HELP);
      expect(result).toMatch(/ONNXRUNTIME_NODE_INSTALL=1 npm rebuild onnxruntime-node/);
    }
  });

  it('other values stop the worker naming the variable', () => {
    expect(() => readWorkerConfig({ env: { CLARA_EXECUTION_PROVIDER: 'rocm' }, exitOnError: false })).toThrow(/CLARA_EXECUTION_PROVIDER/);
    expect(() => readWorkerConfig({ env: { CLARA_TRAIN_THREADS: '0' }, exitOnError: false })).toThrow(/CLARA_TRAIN_THREADS/);
  });
});
