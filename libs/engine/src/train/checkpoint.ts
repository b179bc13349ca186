// Training checkpoints: LoRA tensors + optimizer moments in one binary file, step / data position / RNG state in
// JSON, and a sha256 of each file so a torn or corrupted checkpoint is detected and the previous one used instead.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LoaderState } from '../data/loader.js';

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface CheckpointMeta {
  format: 'clara-checkpoint-1';
  step: number;
  totalSteps: number;
  loader: LoaderState;
  /** Dropout masks come from a counter-based RNG keyed by (seed, step, micro-batch, module): the seed is its whole state. */
  rng: { seed: number; kind: 'counter' };
  /** options that must match on resume (model, method, shapes, optimizer) */
  fingerprint: string;
  bestEvalLoss?: number;
  evalsWithoutImprovement?: number;
  lastLoss?: number;
}

interface Manifest extends CheckpointMeta {
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
  tensorsSha256: string;
}

const STATE = 'state.bin';
const META = 'checkpoint.json';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function checkpointDirName(step: number): string {
  return `checkpoint-${String(step).padStart(7, '0')}`;
}

/** Writes atomically (temp dir + rename) and keeps only the newest `keep` checkpoints. */
export async function saveCheckpoint(parent: string, meta: CheckpointMeta, tensors: CheckpointTensor[], keep = 2): Promise<string> {
  await mkdir(parent, { recursive: true });
  const total = tensors.reduce((a, t) => a + t.data.byteLength, 0);
  const buf = new Uint8Array(total);
  let off = 0;
  const index: Manifest['tensors'] = [];
  for (const t of tensors) {
    buf.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), off);
    index.push({ name: t.name, shape: t.shape, offset: off, length: t.data.length });
    off += t.data.byteLength;
  }
  const manifest: Manifest = { ...meta, tensors: index, tensorsSha256: sha256(buf) };
  const body = JSON.stringify(manifest, null, 1);
  const final = join(parent, checkpointDirName(meta.step));
  const tmp = `${final}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, STATE), buf);
  await writeFile(join(tmp, META), JSON.stringify({ sha256: sha256(new TextEncoder().encode(body)), manifest: body }));
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const all = (await listCheckpoints(parent)).reverse();
  for (const old of all.slice(keep)) await rm(old, { recursive: true, force: true });
  return final;
}

/** Checkpoint directories under `parent`, oldest first. */
export async function listCheckpoints(parent: string): Promise<string[]> {
  const names = await readdir(parent).catch(() => [] as string[]);
  return names
    .filter((n) => /^checkpoint-\d+$/.test(n))
    .sort()
    .map((n) => join(parent, n));
}

/** Reads and verifies one checkpoint; throws on any corruption. */
export async function readCheckpoint(dir: string): Promise<{ meta: CheckpointMeta; tensors: Map<string, CheckpointTensor> }> {
  const outer = JSON.parse(await readFile(join(dir, META), 'utf8')) as { sha256: string; manifest: string };
  if (typeof outer.manifest !== 'string' || sha256(new TextEncoder().encode(outer.manifest)) !== outer.sha256) throw new Error(`${dir}: checkpoint metadata checksum mismatch`);
  const m = JSON.parse(outer.manifest) as Manifest;
  if (m.format !== 'clara-checkpoint-1') throw new Error(`${dir}: unknown checkpoint format`);
  const buf = new Uint8Array(await readFile(join(dir, STATE)));
  if (sha256(buf) !== m.tensorsSha256) throw new Error(`${dir}: checkpoint tensor checksum mismatch`);
  const tensors = new Map<string, CheckpointTensor>();
  for (const t of m.tensors) {
    const data = new Float32Array(t.length);
    new Uint8Array(data.buffer).set(buf.subarray(t.offset, t.offset + t.length * 4));
    tensors.set(t.name, { name: t.name, shape: t.shape, data });
  }
  const { tensors: _t, tensorsSha256: _s, ...meta } = m;
  return { meta, tensors };
}

/**
 * Resolves `path` (a checkpoint dir, or a dir holding checkpoint-* dirs) to the newest checkpoint that verifies.
 * A corrupt one is reported through `warn` and the previous one is used.
 */
export async function loadLatestValidCheckpoint(
  path: string,
  warn: (msg: string) => void = () => {},
): Promise<{ dir: string; meta: CheckpointMeta; tensors: Map<string, CheckpointTensor> }> {
  let candidates = await listCheckpoints(path);
  if (candidates.length === 0) {
    // `path` is itself a checkpoint: try it, then older siblings.
    const parent = dirname(path);
    const siblings = await listCheckpoints(parent);
    const me = basename(path);
    candidates = siblings.filter((s) => basename(s) <= me);
    if (!candidates.includes(join(parent, me))) candidates.push(path);
  }
  const errors: string[] = [];
  for (const dir of candidates.reverse()) {
    try {
      return { dir, ...(await readCheckpoint(dir)) };
    } catch (err) {
      const msg = `checkpoint ${dir} is unusable (${(err as Error).message}); trying the previous one`;
      errors.push(msg);
      warn(msg);
    }
  }
  throw new Error(`no valid checkpoint at ${path}${errors.length ? `: ${errors.join('; ')}` : ''}`);
}
