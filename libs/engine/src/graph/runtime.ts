// Thin wrapper over onnxruntime-node sessions. Sessions are per call site (no module globals), so this works
// unchanged inside worker threads.
import * as ort from 'onnxruntime-node';
import type { ExecutionProvider } from './execution-provider.js';
import type { DType, TypedData } from './ir.js';

export interface SessionOptions {
  intraOpNumThreads?: number;
  /** Let idle intra-op threads spin (lower latency on an idle machine; wastes CPU when cores are shared). Default off. */
  spinning?: boolean;
  /** default cpu; cuda needs onnxruntime-node's CUDA 12 provider libraries (README) */
  executionProvider?: ExecutionProvider;
}

/** The onnxruntime session options a Session is created with. */
export function ortSessionOptions(o: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  return {
    // cuda: nodes the CUDA provider has no kernel for fall back to the CPU provider. Without the CUDA libraries
    // session creation fails (onnxruntime does not silently run everything on the CPU).
    ...(o.executionProvider === 'cuda' ? { executionProviders: ['cuda', 'cpu'] } : {}),
    intraOpNumThreads: o.intraOpNumThreads ?? 2,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Without the memory pattern only the first run pays for fresh pages (with it, the first two do: ~2 s each
    // for the bench model); steady-state speed is the same since the arena recycles blocks.
    enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } },
  };
}

export interface HostValue {
  dtype: DType;
  dims: number[];
  data: TypedData;
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

export class Session {
  private constructor(private readonly s: ort.InferenceSession) {}

  static async create(model: Uint8Array | string, o: SessionOptions = {}): Promise<Session> {
    const s = await ort.InferenceSession.create(model as Uint8Array, ortSessionOptions(o));
    return new Session(s);
  }

  get inputNames(): readonly string[] {
    return this.s.inputNames;
  }

  async run(feeds: Record<string, HostValue>, fetch?: string[]): Promise<Record<string, HostValue>> {
    const f: Record<string, ort.Tensor> = {};
    const wanted = new Set(this.s.inputNames);
    // Feeds this graph does not take are skipped, so one feed set can serve related graphs (train / eval).
    for (const [k, v] of Object.entries(feeds)) if (wanted.has(k)) f[k] = new ort.Tensor(ORT_TYPE[v.dtype], v.data as never, v.dims);
    const r = fetch ? await this.s.run(f, fetch) : await this.s.run(f);
    const out: Record<string, HostValue> = {};
    for (const [k, t] of Object.entries(r)) {
      out[k] = { dtype: t.type as DType, dims: t.dims.slice(), data: t.data as TypedData };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.s.release();
  }
}

export const f32 = (data: Float32Array, dims: number[]): HostValue => ({ dtype: 'float32', dims, data });
export const f64 = (data: Float64Array, dims: number[]): HostValue => ({ dtype: 'float64', dims, data });
export const i64 = (data: ArrayLike<number>, dims: number[]): HostValue => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from(Array.from(data, (v) => BigInt(v))),
});
