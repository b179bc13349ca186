/**
 * Which onnxruntime execution provider the engine's sessions use. CUDA is checked before work starts (worker start,
 * CLI start): a job must not discover half-way that the GPU libraries are missing. This module does not load
 * onnxruntime unless a check runs, so option parsing (training API) stays light.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Graph } from './ir.js';
import { toOnnx } from './onnx.js';
import { identity } from './ops.js';

export type ExecutionProvider = 'cpu' | 'cuda';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda'];

// onnxruntime-node's postinstall (script/install.js) downloads the CUDA 12 provider libraries from NuGet. This
// repository's .npmrc sets onnxruntime_node_install=skip, and the ONNXRUNTIME_NODE_INSTALL environment variable is
// the one setting read before it — so it, not ONNXRUNTIME_NODE_INSTALL_CUDA, must turn the download on.
export const CUDA_INSTALL_HELP =
  'CUDA training needs an NVIDIA driver, CUDA 12 and cuDNN 9 on the host and the CUDA provider libraries of onnxruntime-node: ' +
  'run `ONNXRUNTIME_NODE_INSTALL=1 npm rebuild onnxruntime-node` at the repository root (it downloads ' +
  'libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so from NuGet next to the binding; needs internet), ' +
  'then restart. See README "GPU training (CUDA)". Or use the cpu execution provider.';

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

/**
 * Throws with install instructions unless a session on the provider really opens. `setting` is how the user chose
 * the provider (e.g. `CLARA_EXECUTION_PROVIDER`, `--execution-provider`), named in the message.
 */
export async function assertExecutionProvider(provider: ExecutionProvider, setting: string): Promise<void> {
  if (provider === 'cpu') return;
  const dir = ortBinaryDir();
  if (!dir || !existsSync(join(dir, 'libonnxruntime_providers_cuda.so'))) {
    throw new Error(`${setting}=cuda but onnxruntime-node has no CUDA provider installed (${dir ?? 'binding not found'}). ${CUDA_INSTALL_HELP}`);
  }
  const g = new Graph('cuda_probe');
  g.input('x', 'float32', [1]);
  g.output(identity(g, 'x'));
  const ort = await import('onnxruntime-node');
  try {
    const s = await ort.InferenceSession.create(toOnnx(g), { executionProviders: ['cuda'] });
    await s.release();
  } catch (err) {
    throw new Error(`${setting}=cuda but a CUDA session cannot be created (${(err as Error).message}). ${CUDA_INSTALL_HELP}`);
  }
}
