/**
 * CLARA_EXECUTION_PROVIDER: which onnxruntime execution provider training uses. CUDA is checked when the worker
 * starts (the engine's check) — a job must not discover half-way that the GPU libraries are missing.
 */
import { assertExecutionProvider as assertEngineProvider, type ExecutionProvider } from '@clara/engine/graph/execution-provider';

export { CUDA_INSTALL_HELP, type ExecutionProvider } from '@clara/engine/graph/execution-provider';

/** Throws with install instructions naming CLARA_EXECUTION_PROVIDER unless a session on the provider really opens. */
export const assertExecutionProvider = (provider: ExecutionProvider): Promise<void> => assertEngineProvider(provider, 'CLARA_EXECUTION_PROVIDER');
