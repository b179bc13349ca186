// A small tensor-graph IR that maps one-to-one onto ONNX nodes. Shapes are tracked statically (dims may be
// symbolic strings) because the autodiff needs to know which axes were broadcast.

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';
export type Dim = number | string;
export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface TensorInfo {
  dtype: DType;
  shape: Dim[];
}

export type Attr =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string }
  | { t: Initializer };

export interface Node {
  op: string;
  inputs: string[]; // '' = omitted optional input
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface Initializer {
  dtype: DType;
  dims: number[];
  data: TypedData;
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

export function makeTyped(dtype: DType, values: ArrayLike<number>): TypedData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    case 'int32':
      return Int32Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
  }
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly values = new Map<string, TensorInfo>();
  readonly inputs: string[] = [];
  readonly outputs: string[] = [];
  readonly initializers = new Map<string, Initializer>();
  /** Values of small integer constants, so backward rules can read slice bounds, axes, etc. */
  readonly constValues = new Map<string, number[]>();
  private counter = 0;

  /** `ftype` is the floating type used for constants created by builders and backward rules. */
  constructor(
    readonly name: string,
    readonly ftype: 'float32' | 'float64' = 'float32',
  ) {}

  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.values.has(n));
    return n;
  }

  info(name: string): TensorInfo {
    const i = this.values.get(name);
    if (!i) throw new Error(`unknown tensor ${name}`);
    return i;
  }

  shape(name: string): Dim[] {
    return this.info(name).shape;
  }

  input(name: string, dtype: DType, shape: Dim[]): string {
    if (this.values.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.values.set(name, { dtype, shape });
    this.inputs.push(name);
    return name;
  }

  initializer(name: string, dtype: DType, dims: number[], data: TypedData): string {
    if (this.values.has(name)) throw new Error(`duplicate tensor name ${name}`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims}]`);
    this.values.set(name, { dtype, shape: dims });
    this.initializers.set(name, { dtype, dims, data });
    return name;
  }

  /** A small constant (initializer) with a fresh name. */
  constant(values: ArrayLike<number>, dtype: DType = this.ftype, dims?: number[]): string {
    const d = dims ?? (values.length === 1 && dtype !== 'int64' ? [] : [values.length]);
    const name = this.initializer(this.fresh('const'), dtype, d, makeTyped(dtype, values));
    if (dtype === 'int64' || dtype === 'int32') this.constValues.set(name, Array.from(values));
    return name;
  }

  scalar(v: number, dtype: DType = this.ftype): string {
    return this.constant([v], dtype, []);
  }

  ints(values: number[]): string {
    return this.constant(values, 'int64', [values.length]);
  }

  output(name: string): void {
    this.info(name);
    this.outputs.push(name);
  }

  /** Appends a node whose output types are given explicitly. */
  node(op: string, inputs: string[], outs: TensorInfo[], attrs: Record<string, Attr> = {}, prefix?: string): string[] {
    for (const i of inputs) if (i !== '') this.info(i);
    const outputs = outs.map((info) => {
      const n = this.fresh(prefix ?? op.toLowerCase());
      this.values.set(n, info);
      return n;
    });
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs;
  }
}

/** Broadcast two shapes the numpy/ONNX way. Symbolic dims must match exactly unless the other is 1. */
export function broadcastShapes(a: Dim[], b: Dim[]): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da === 1) out.push(db);
    else if (db === 1 || da === db) out.push(da);
    else throw new Error(`cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

export function numel(shape: Dim[]): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') throw new Error(`shape [${shape}] is not static`);
    n *= d;
  }
  return n;
}

export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
