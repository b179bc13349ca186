/**
 * CLARA_EXECUTION_PROVIDER: which onnxruntime execution provider training uses. CUDA must be checked when the
 * worker starts — a job must not discover half-way that the GPU libraries are missing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Graph } from '@clara/engine/graph/ir';
import { toOnnx } from '@clara/engine/graph/onnx';
import { identity } from '@clara/engine/graph/ops';

export type ExecutionProvider = 'cpu' | 'cuda';

export const CUDA_INSTALL_HELP =
  'CUDA training needs an NVIDIA driver, CUDA 12 and cuDNN 9 on the host and the CUDA build of onnxruntime-node: ' +
  'reinstall it with `ONNXRUNTIME_NODE_INSTALL_CUDA=v12 npm rebuild onnxruntime-node` (without the ' +
  'ONNXRUNTIME_NODE_INSTALL=skip setting) so libonnxruntime_providers_cuda.so is downloaded next to the binding, ' +
  'then restart the worker. See README "GPU training (CUDA)". Or set CLARA_EXECUTION_PROVIDER=cpu.';

function ortBinaryDir(): string | undefined {
  const req = createRequire(import.meta.url);
  const root = dirname(req.resolve('onnxruntime-node/package.json'));
  const bin = join(root, 'bin');
  if (!existsSync(bin)) return undefined;
  for (const napi of readdirSync(bin)) {
    const d = join(bin, napi, process.platform, process.arch);
    if (existsSync(d)) return d;
  }
  return undefined;
}

/** Throws with install instructions unless a session on the provider really opens. */
export async function assertExecutionProvider(provider: ExecutionProvider): Promise<void> {
  if (provider === 'cpu') return;
  const dir = ortBinaryDir();
  if (!dir || !existsSync(join(dir, 'libonnxruntime_providers_cuda.so'))) {
    throw new Error(`CLARA_EXECUTION_PROVIDER=cuda but onnxruntime-node has no CUDA provider installed (${dir ?? 'binding not found'}). ${CUDA_INSTALL_HELP}`);
  }
  const g = new Graph('cuda_probe');
  g.input('x', 'float32', [1]);
  g.output(identity(g, 'x'));
  const ort = await import('onnxruntime-node');
  try {
    const s = await ort.InferenceSession.create(toOnnx(g), { executionProviders: ['cuda'] });
    await s.release();
  } catch (err) {
    throw new Error(`CLARA_EXECUTION_PROVIDER=cuda but a CUDA session cannot be created (${(err as Error).message}). ${CUDA_INSTALL_HELP}`);
  }
}
