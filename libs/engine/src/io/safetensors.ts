import { open, writeFile, rename } from 'node:fs/promises';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, numel, type HostTensor } from './tensor.js';

/**
 * safetensors format: u64 little-endian header length N, N bytes of JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then the raw tensor bytes
 * (offsets relative to the end of the header). Written by hand: it is 40 lines and no JS library is well kept.
 */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
export type FloatStorage = 'float32' | 'float16' | 'bfloat16';

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  dataStart: number;
}

/** A tensor to write: floats are stored in `dtype` (default F32); ints as I64/I32. */
export type WritableTensor =
  | { dtype?: 'F32' | 'F16' | 'BF16'; shape: number[]; data: Float32Array }
  | { dtype: 'I64' | 'I32'; shape: number[]; data: ArrayLike<number> | BigInt64Array };

export function storageToDtype(storage: FloatStorage): 'F32' | 'F16' | 'BF16' {
  return storage === 'float32' ? 'F32' : storage === 'float16' ? 'F16' : 'BF16';
}

export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 8) throw new Error(`${path}: not a safetensors file (only ${size} bytes)`);
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || 8 + headerLen > size) throw new Error(`${path}: corrupt safetensors header length ${headerLen}`);
    const headerBuf = Buffer.alloc(headerLen);
    await fh.read(headerBuf, 0, headerLen, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      throw new Error(`${path}: safetensors header is not valid JSON (${(err as Error).message})`);
    }
    const tensors = new Map<string, SafetensorsEntry>();
    const dataStart = 8 + headerLen;
    for (const [name, v] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
      if (!(e.dtype in BYTES)) throw new Error(`${path}: tensor ${name} has unsupported dtype ${e.dtype}`);
      const dtype = e.dtype as SafetensorsDtype;
      const [b, end] = e.data_offsets;
      if (end - b !== numel(e.shape) * BYTES[dtype] || dataStart + end > size) {
        throw new Error(`${path}: tensor ${name} offsets [${b}, ${end}] do not fit shape [${e.shape}] ${dtype} or the file`);
      }
      tensors.set(name, { dtype, shape: e.shape, dataOffsets: [b, end] });
    }
    return { tensors, metadata: (json.__metadata__ as Record<string, string>) ?? {}, dataStart };
  } finally {
    await fh.close();
  }
}

function decodeFloat(dtype: SafetensorsDtype, bytes: Buffer, n: number, name: string): Float32Array {
  // Buffer.alloc never uses the shared pool, so byteOffset is 0 and typed views are aligned (host is little-endian).
  switch (dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, n).slice();
    case 'BF16': {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'F16': {
      const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(src[i]!);
      return out;
    }
    default:
      throw new Error(`tensor ${name} is ${dtype}, expected a float tensor`);
  }
}

export interface ReadOptions {
  /** only read these tensors (default: all) */
  names?: Iterable<string>;
}

/** Reads float tensors, upcast to fp32. Reads tensor by tensor so big checkpoints never sit in memory twice. */
export async function readSafetensors(path: string, opts: ReadOptions = {}): Promise<Map<string, HostTensor>> {
  const header = await readSafetensorsHeader(path);
  const wanted = opts.names ? new Set(opts.names) : null;
  const out = new Map<string, HostTensor>();
  const fh = await open(path, 'r');
  try {
    for (const [name, e] of header.tensors) {
      if (wanted && !wanted.has(name)) continue;
      const len = e.dataOffsets[1] - e.dataOffsets[0];
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, header.dataStart + e.dataOffsets[0]);
      out.set(name, { shape: [...e.shape], data: decodeFloat(e.dtype, buf, numel(e.shape), name) });
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** Reads integer tensors (I64/I32) as plain numbers. */
export async function readSafetensorsInts(path: string): Promise<Map<string, { shape: number[]; data: number[] }>> {
  const header = await readSafetensorsHeader(path);
  const out = new Map<string, { shape: number[]; data: number[] }>();
  const fh = await open(path, 'r');
  try {
    for (const [name, e] of header.tensors) {
      if (e.dtype !== 'I64' && e.dtype !== 'I32') continue;
      const len = e.dataOffsets[1] - e.dataOffsets[0];
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, header.dataStart + e.dataOffsets[0]);
      const n = numel(e.shape);
      const data = new Array<number>(n);
      for (let i = 0; i < n; i++) data[i] = e.dtype === 'I64' ? Number(buf.readBigInt64LE(i * 8)) : buf.readInt32LE(i * 4);
      out.set(name, { shape: [...e.shape], data });
    }
  } finally {
    await fh.close();
  }
  return out;
}

function encode(t: WritableTensor, name: string): { dtype: SafetensorsDtype; bytes: Buffer } {
  const n = numel(t.shape);
  if (t.data.length !== n) throw new Error(`tensor ${name}: data length ${t.data.length} does not match shape [${t.shape}]`);
  const dtype = t.dtype ?? 'F32';
  const bytes = Buffer.alloc(n * BYTES[dtype]);
  const d = t.data as ArrayLike<number | bigint>;
  switch (dtype) {
    case 'F32': {
      const src = t.data as Float32Array;
      Buffer.from(src.buffer, src.byteOffset, src.byteLength).copy(bytes);
      break;
    }
    case 'BF16':
      for (let i = 0; i < n; i++) bytes.writeUInt16LE(f32ToBf16Bits(d[i] as number), i * 2);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) bytes.writeUInt16LE(f32ToF16Bits(d[i] as number), i * 2);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) bytes.writeBigInt64LE(BigInt(d[i]!), i * 8);
      break;
    case 'I32':
      for (let i = 0; i < n; i++) bytes.writeInt32LE(Number(d[i]), i * 4);
      break;
  }
  return { dtype, bytes };
}

/** Serialises tensors (sorted by name, like the Python writer) to a safetensors buffer. */
export function encodeSafetensors(tensors: Map<string, WritableTensor>, metadata?: Record<string, string>): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    const { dtype, bytes } = encode(tensors.get(name)!, name);
    header[name] = { dtype, shape: tensors.get(name)!.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  return Buffer.concat([len, headerBytes, ...chunks]);
}

/** Writes atomically (temp file + rename) so a crash never leaves a half-written file under the final name. */
export async function writeSafetensors(path: string, tensors: Map<string, WritableTensor>, metadata?: Record<string, string>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, encodeSafetensors(tensors, metadata));
  await rename(tmp, path);
}
