// Serialises the IR as an ONNX ModelProto (opset 18) with protobufjs' wire writer.
// Large initializers can go to an external data file next to the model (ONNX external-data convention),
// which keeps the protobuf under its 2 GB limit for real checkpoints.
import protobuf from 'protobufjs/minimal.js';
import { type Attr, Graph, type Initializer, type TensorInfo } from './ir.js';
import { ONNX_DTYPE } from './ops.js';

type Writer = protobuf.Writer;
const LEN = 2;
const VARINT = 0;
const FIXED32 = 5;
const tag = (w: Writer, field: number, wire: number) => w.uint32((field << 3) | wire);

function bytesOf(t: Initializer): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export interface ExternalPlan {
  /** File name (relative to the model) receiving initializers of at least `minBytes`. */
  location: string;
  minBytes: number;
  /** Filled by emit: the chunks to write to `location`, in order. */
  chunks: Uint8Array[];
  offset: number;
}

function writeTensor(w: Writer, name: string, t: Initializer, ext?: ExternalPlan): void {
  for (const d of t.dims) tag(w, 1, VARINT).int64(d);
  tag(w, 2, VARINT).int32(ONNX_DTYPE[t.dtype]);
  if (name) tag(w, 8, LEN).string(name);
  const raw = bytesOf(t);
  if (ext && raw.byteLength >= ext.minBytes) {
    const pad = (64 - (ext.offset % 64)) % 64; // aligned so ORT can mmap
    if (pad) ext.chunks.push(new Uint8Array(pad));
    ext.offset += pad;
    const kv: [string, string][] = [
      ['location', ext.location],
      ['offset', String(ext.offset)],
      ['length', String(raw.byteLength)],
    ];
    for (const [k, v] of kv) {
      tag(w, 13, LEN).fork();
      tag(w, 1, LEN).string(k);
      tag(w, 2, LEN).string(v);
      w.ldelim();
    }
    tag(w, 14, VARINT).int32(1); // data_location = EXTERNAL
    ext.chunks.push(raw);
    ext.offset += raw.byteLength;
  } else tag(w, 9, LEN).bytes(raw);
}

function writeAttr(w: Writer, name: string, a: Attr): void {
  tag(w, 1, LEN).string(name);
  if ('i' in a) {
    tag(w, 3, VARINT).int64(a.i);
    tag(w, 20, VARINT).int32(2);
  } else if ('f' in a) {
    tag(w, 2, FIXED32).float(a.f);
    tag(w, 20, VARINT).int32(1);
  } else if ('ints' in a) {
    for (const v of a.ints) tag(w, 8, VARINT).int64(v);
    tag(w, 20, VARINT).int32(7);
  } else if ('floats' in a) {
    for (const v of a.floats) tag(w, 7, FIXED32).float(v);
    tag(w, 20, VARINT).int32(6);
  } else if ('s' in a) {
    tag(w, 4, LEN).bytes(new TextEncoder().encode(a.s));
    tag(w, 20, VARINT).int32(3);
  } else {
    tag(w, 5, LEN).fork();
    writeTensor(w, '', a.t);
    w.ldelim();
    tag(w, 20, VARINT).int32(4);
  }
}

function writeValueInfo(w: Writer, name: string, info: TensorInfo): void {
  tag(w, 1, LEN).string(name);
  tag(w, 2, LEN).fork(); // TypeProto
  tag(w, 1, LEN).fork(); // tensor_type
  tag(w, 1, VARINT).int32(ONNX_DTYPE[info.dtype]);
  tag(w, 2, LEN).fork(); // shape
  for (const d of info.shape) {
    tag(w, 1, LEN).fork();
    if (typeof d === 'number') tag(w, 1, VARINT).int64(d);
    else tag(w, 2, LEN).string(d);
    w.ldelim();
  }
  w.ldelim();
  w.ldelim();
  w.ldelim();
}

/** ModelProto bytes for the graph. With `ext`, big initializers are referenced from ext.location instead. */
export function toOnnx(g: Graph, ext?: ExternalPlan): Uint8Array {
  const w = protobuf.Writer.create();
  tag(w, 1, VARINT).int64(8); // ir_version
  tag(w, 2, LEN).string('clara');
  tag(w, 7, LEN).fork(); // graph
  for (const n of g.nodes) {
    tag(w, 1, LEN).fork();
    for (const i of n.inputs) tag(w, 1, LEN).string(i);
    for (const o of n.outputs) tag(w, 2, LEN).string(o);
    tag(w, 3, LEN).string(n.outputs[0]!);
    tag(w, 4, LEN).string(n.op);
    for (const [k, a] of Object.entries(n.attrs)) {
      tag(w, 5, LEN).fork();
      writeAttr(w, k, a);
      w.ldelim();
    }
    w.ldelim();
  }
  tag(w, 2, LEN).string(g.name);
  for (const [name, t] of g.initializers) {
    tag(w, 5, LEN).fork();
    writeTensor(w, name, t, ext);
    w.ldelim();
  }
  for (const i of g.inputs) {
    tag(w, 11, LEN).fork();
    writeValueInfo(w, i, g.info(i));
    w.ldelim();
  }
  for (const o of g.outputs) {
    tag(w, 12, LEN).fork();
    writeValueInfo(w, o, g.info(o));
    w.ldelim();
  }
  w.ldelim();
  tag(w, 8, LEN).fork(); // opset_import
  tag(w, 1, LEN).string('');
  tag(w, 2, VARINT).int64(18);
  w.ldelim();
  return w.finish();
}
