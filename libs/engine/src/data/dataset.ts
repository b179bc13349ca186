import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { TextTokenizer } from '../io/tokenizer.js';
import { DataFormatError, IGNORE_INDEX, parseRecord, tokenizeRecord, type DataRecord, type Example } from './formats.js';
import { Rng } from './rng.js';

/** Reads a JSONL file; blank lines are skipped, anything malformed throws naming the line. */
export async function readJsonl(path: string): Promise<{ line: number; record: DataRecord }[]> {
  await access(path).catch(() => {
    throw new Error(`data file ${path} does not exist`);
  });
  const out: { line: number; record: DataRecord }[] = [];
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of rl) {
    n++;
    const text = raw.trim();
    if (!text) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new DataFormatError(path, n, `invalid JSON (${(err as Error).message})`);
    }
    try {
      out.push({ line: n, record: parseRecord(obj) });
    } catch (err) {
      throw new DataFormatError(path, n, (err as Error).message);
    }
  }
  if (out.length === 0) throw new Error(`data file ${path} has no records`);
  return out;
}

export interface TokenizeStats {
  records: number;
  truncated: number;
  /** examples dropped because no trainable label survived truncation */
  dropped: number;
}

/** Tokenizes and truncates to seqLen; drops examples left with nothing to learn (the first label is never predicted). */
export async function loadExamples(
  path: string,
  tok: TextTokenizer | undefined,
  opts: { seqLen: number; vocabSize?: number },
): Promise<{ examples: Example[]; stats: TokenizeStats }> {
  const rows = await readJsonl(path);
  const examples: Example[] = [];
  const stats: TokenizeStats = { records: rows.length, truncated: 0, dropped: 0 };
  for (const { line, record } of rows) {
    let ex: Example;
    try {
      ex = tokenizeRecord(record, tok, opts.vocabSize);
    } catch (err) {
      throw new DataFormatError(path, line, (err as Error).message);
    }
    if (ex.inputIds.length > opts.seqLen) {
      stats.truncated++;
      ex = { inputIds: ex.inputIds.slice(0, opts.seqLen), labels: ex.labels.slice(0, opts.seqLen) };
    }
    if (!ex.labels.slice(1).some((l) => l !== IGNORE_INDEX)) {
      stats.dropped++;
      continue;
    }
    examples.push(ex);
  }
  if (examples.length === 0) throw new Error(`${path}: no example has a trainable token within seq_len ${opts.seqLen}`);
  return { examples, stats };
}

/** Concatenates examples into rows of exactly seqLen tokens (the last row may be shorter). */
export function packExamples(examples: Example[], seqLen: number): Example[] {
  const ids = examples.flatMap((e) => e.inputIds);
  const labels = examples.flatMap((e) => e.labels);
  const out: Example[] = [];
  for (let i = 0; i < ids.length; i += seqLen) {
    const l = labels.slice(i, i + seqLen);
    if (l.slice(1).some((x) => x !== IGNORE_INDEX)) out.push({ inputIds: ids.slice(i, i + seqLen), labels: l });
  }
  return out;
}

/** Deterministic split: `fraction` of the examples (at least one, never all) go to eval. */
export function splitEval<T>(items: T[], fraction: number, seed: number): { train: T[]; eval: T[] } {
  if (!(fraction > 0 && fraction < 1)) throw new Error(`eval split fraction must be in (0, 1), got ${fraction}`);
  if (items.length < 2) throw new Error('need at least 2 examples to split off an eval set');
  const order = new Rng(seed ^ 0x5eed).shuffle([...items.keys()]);
  const nEval = Math.min(items.length - 1, Math.max(1, Math.round(items.length * fraction)));
  const evalIdx = new Set(order.slice(0, nEval));
  return { train: items.filter((_, i) => !evalIdx.has(i)), eval: items.filter((_, i) => evalIdx.has(i)) };
}

/**
 * Replay for continued training: adds examples from an older dataset so that they make up `fraction`
 * of the mixed set (sampled without replacement while they last, deterministic by seed).
 */
export function mixReplay(fresh: Example[], older: Example[], fraction: number, seed: number): Example[] {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`replay fraction must be in [0, 1), got ${fraction}`);
  if (fraction === 0 || older.length === 0) return [...fresh];
  const want = Math.round((fresh.length * fraction) / (1 - fraction));
  const rng = new Rng(seed ^ 0x7e91a7);
  const picked: Example[] = [];
  let pool: Example[] = [];
  while (picked.length < want) {
    if (pool.length === 0) pool = rng.shuffle([...older]);
    picked.push(pool.pop()!);
  }
  return [...fresh, ...picked];
}

export interface PrepareDataOptions {
  dataPath: string;
  evalDataPath?: string;
  /** fraction of dataPath held out for eval when no eval file is given */
  evalSplit?: number;
  seqLen: number;
  packing?: boolean;
  seed: number;
  replay?: { dataPath: string; fraction: number };
  vocabSize?: number;
}

export interface PreparedData {
  train: Example[];
  eval: Example[];
  stats: { train: TokenizeStats; eval?: TokenizeStats; replay?: TokenizeStats; replayExamples: number };
}

/** Everything between a JSONL path and the examples the trainer iterates over. */
export async function prepareData(tok: TextTokenizer | undefined, o: PrepareDataOptions): Promise<PreparedData> {
  const opts = { seqLen: o.seqLen, vocabSize: o.vocabSize };
  const main = await loadExamples(o.dataPath, tok, opts);
  let train = main.examples;
  let evalEx: Example[] = [];
  let evalStats: TokenizeStats | undefined;
  if (o.evalDataPath) {
    const e = await loadExamples(o.evalDataPath, tok, opts);
    evalEx = e.examples;
    evalStats = e.stats;
  } else if (o.evalSplit) {
    ({ train, eval: evalEx } = splitEval(train, o.evalSplit, o.seed));
  }
  let replayStats: TokenizeStats | undefined;
  const before = train.length;
  if (o.replay && o.replay.fraction > 0) {
    const r = await loadExamples(o.replay.dataPath, tok, opts);
    replayStats = r.stats;
    train = mixReplay(train, r.examples, o.replay.fraction, o.seed);
  }
  const replayExamples = train.length - before;
  if (o.packing) {
    train = packExamples(new Rng(o.seed ^ 0xbac4).shuffle([...train]), o.seqLen);
    evalEx = packExamples(evalEx, o.seqLen);
  }
  return { train, eval: evalEx, stats: { train: main.stats, eval: evalStats, replay: replayStats, replayExamples } };
}
