import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors, readSafetensorsHeader, readSafetensorsInts, writeSafetensors } from './safetensors.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './tensor.js';
import { Rng } from '../data/rng.js';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'clara-st-'));
  dirs.push(d);
  return d;
}
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function randomData(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * 3);
}

describe('safetensors', () => {
  it('round-trips fp32 bit-exactly and writes a parseable, 8-byte aligned header', async () => {
    const d = await tmp();
    const a = randomData(6 * 5, 1);
    const b = randomData(7, 2);
    await writeSafetensors(join(d, 'x.safetensors'), new Map([['w.a', { shape: [6, 5], data: a }], ['w.b', { shape: [7], data: b }]]), { format: 'pt' });
    const buf = await readFile(join(d, 'x.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['w.a']).toEqual({ dtype: 'F32', shape: [6, 5], data_offsets: [0, 120] });
    const back = await readSafetensors(join(d, 'x.safetensors'));
    expect(back.get('w.a')!.shape).toEqual([6, 5]);
    expect(Buffer.from(back.get('w.a')!.data.buffer).equals(Buffer.from(a.buffer))).toBe(true);
    expect(Buffer.from(back.get('w.b')!.data.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('stores bf16 and fp16 and upcasts them to fp32 within their precision', async () => {
    const d = await tmp();
    const a = randomData(1000, 3);
    await writeSafetensors(
      join(d, 'h.safetensors'),
      new Map([['bf', { dtype: 'BF16', shape: [10, 100], data: a }], ['hf', { dtype: 'F16', shape: [1000], data: a }]] as const),
    );
    const hdr = await readSafetensorsHeader(join(d, 'h.safetensors'));
    expect(hdr.tensors.get('bf')!.dtype).toBe('BF16');
    expect(hdr.tensors.get('hf')!.dtype).toBe('F16');
    const back = await readSafetensors(join(d, 'h.safetensors'));
    for (let i = 0; i < a.length; i++) {
      expect(Math.abs(back.get('bf')!.data[i]! - a[i]!)).toBeLessThanOrEqual(Math.abs(a[i]!) * 2 ** -8);
      expect(Math.abs(back.get('hf')!.data[i]! - a[i]!)).toBeLessThanOrEqual(Math.abs(a[i]!) * 2 ** -11 + 2 ** -24);
    }
    // A second round trip through the half formats is lossless.
    await writeSafetensors(join(d, 'h2.safetensors'), new Map([['bf', { dtype: 'BF16', shape: [10, 100], data: back.get('bf')!.data }]] as const));
    const again = await readSafetensors(join(d, 'h2.safetensors'));
    expect(again.get('bf')!.data).toEqual(back.get('bf')!.data);
  });

  it('converts known half-precision bit patterns', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc000)).toBe(-2);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToF32(0xc040)).toBe(-3);
    // round to nearest even: 1 + 2^-8 is halfway between bf16 1 and 1+2^-7 → 1
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
  });

  it('reads integer tensors and rejects corrupt files with a clear error', async () => {
    const d = await tmp();
    await writeSafetensors(join(d, 'i.safetensors'), new Map([['ids', { dtype: 'I64', shape: [3], data: [1, -2, 3] }], ['m', { dtype: 'I32', shape: [2], data: [7, 8] }]] as const));
    const ints = await readSafetensorsInts(join(d, 'i.safetensors'));
    expect(ints.get('ids')!.data).toEqual([1, -2, 3]);
    expect(ints.get('m')!.data).toEqual([7, 8]);
    const buf = await readFile(join(d, 'i.safetensors'));
    await writeFile(join(d, 'cut.safetensors'), buf.subarray(0, buf.length - 4));
    await expect(readSafetensors(join(d, 'cut.safetensors'))).rejects.toThrow(/do not fit/);
    await writeFile(join(d, 'junk.safetensors'), Buffer.from('hello world, not a tensor file'));
    await expect(readSafetensors(join(d, 'junk.safetensors'))).rejects.toThrow(/corrupt safetensors header|not valid JSON/);
  });
});
