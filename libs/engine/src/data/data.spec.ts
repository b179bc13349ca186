import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from '../io/tokenizer.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';
import { loadExamples, mixReplay, packExamples, prepareData, readJsonl, splitEval } from './dataset.js';
import { IGNORE_INDEX, alpacaPrompt, type Example } from './formats.js';
import { collate, DataLoader } from './loader.js';

let dir: string;
let tok: TextTokenizer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clara-data-'));
  await writeTinyCheckpoint(join(dir, 'model'), { vocabSize: 512 });
  tok = await TextTokenizer.load(join(dir, 'model'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function jsonl(name: string, rows: unknown[]): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return p;
}

/** The decoded text of the tokens that carry a label. */
function trained(e: Example): string {
  return tok.decode(e.inputIds.filter((_, i) => e.labels[i] !== IGNORE_INDEX));
}

describe('JSONL formats and label masking', () => {
  it('chat: loss only on assistant turns (with their EOS)', async () => {
    const p = await jsonl('chat.jsonl', [{ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Capital of France?' }, { role: 'assistant', content: 'Paris.' }, { role: 'user', content: 'And Germany?' }, { role: 'assistant', content: 'Berlin.' }] }]);
    const { examples } = await loadExamples(p, tok, { seqLen: 256 });
    const e = examples[0]!;
    expect(e.inputIds.length).toBe(e.labels.length);
    expect(trained(e)).toBe('Paris.</s>Berlin.</s>');
    expect(tok.decode(e.inputIds)).toBe(tok.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Capital of France?' }, { role: 'assistant', content: 'Paris.' }, { role: 'user', content: 'And Germany?' }, { role: 'assistant', content: 'Berlin.' }]));
    // labels equal the input ids where they are not masked (not shifted)
    e.labels.forEach((l, i) => l !== IGNORE_INDEX && expect(l).toBe(e.inputIds[i]));
  });

  it('alpaca: loss only on the output + EOS; BOS from the tokenizer', async () => {
    const p = await jsonl('alpaca.jsonl', [{ instruction: 'Add the numbers.', input: '2 and 3', output: '5' }, { instruction: 'Say hi', output: 'hi' }]);
    const { examples } = await loadExamples(p, tok, { seqLen: 256 });
    expect(trained(examples[0]!)).toBe('5</s>');
    expect(examples[0]!.inputIds[0]).toBe(tok.bosId);
    expect(tok.decode(examples[0]!.inputIds, true)).toBe(alpacaPrompt('Add the numbers.', '2 and 3') + '5');
    expect(tok.decode(examples[1]!.inputIds, true)).toContain('### Instruction:\nSay hi\n\n### Response:\nhi');
  });

  it('text: loss on every token', async () => {
    const p = await jsonl('text.jsonl', [{ text: 'Hello world' }]);
    const e = (await loadExamples(p, tok, { seqLen: 256 })).examples[0]!;
    expect(e.labels).toEqual(e.inputIds);
    expect(tok.decode(e.inputIds)).toBe('<s>Hello world</s>');
  });

  it('pre-tokenized: labels optional (copy of input_ids), -100 kept', async () => {
    const p = await jsonl('tok.jsonl', [{ input_ids: [5, 6, 7, 8] }, { input_ids: [9, 10, 11], labels: [-100, 10, -100] }]);
    const { examples } = await loadExamples(p, undefined, { seqLen: 16, vocabSize: 512 });
    expect(examples).toEqual([{ inputIds: [5, 6, 7, 8], labels: [5, 6, 7, 8] }, { inputIds: [9, 10, 11], labels: [-100, 10, -100] }]);
    const bad = await jsonl('tokbad.jsonl', [{ input_ids: [1, 2] }, { input_ids: [1, 900] }]);
    await expect(loadExamples(bad, undefined, { seqLen: 16, vocabSize: 512 })).rejects.toThrow(/tokbad.jsonl line 2: .*vocab size 512/);
  });

  it('a malformed line is reported with its line number', async () => {
    const p = await jsonl('bad.jsonl', [{ text: 'ok' }, '', { text: 'fine' }, '{"text": "unterminated']);
    await expect(readJsonl(p)).rejects.toThrow(/bad.jsonl line 4: invalid JSON/);
    const q = await jsonl('bad2.jsonl', [{ text: 'ok' }, { messages: [{ role: 'wizard', content: 'x' }] }]);
    await expect(readJsonl(q)).rejects.toThrow(/bad2.jsonl line 2: messages\[0\].role must be one of/);
    const r = await jsonl('bad3.jsonl', [{ foo: 1 }]);
    await expect(readJsonl(r)).rejects.toThrow(/line 1: unknown record format/);
    const s = await jsonl('bad4.jsonl', [{ input_ids: [1, 2, 3], labels: [1, 2] }]);
    await expect(readJsonl(s)).rejects.toThrow(/line 1: "labels" has 2 entries/);
    await expect(readJsonl(join(dir, 'nope.jsonl'))).rejects.toThrow(/does not exist/);
  });

  it('truncates to seq_len and drops examples with nothing left to learn', async () => {
    const p = await jsonl('long.jsonl', [{ text: 'one two three four five six seven eight nine ten' }, { instruction: 'x '.repeat(50), output: 'y' }]);
    const { examples, stats } = await loadExamples(p, tok, { seqLen: 5 });
    expect(examples).toHaveLength(1);
    expect(examples[0]!.inputIds).toHaveLength(5);
    expect(stats).toEqual({ records: 2, truncated: 2, dropped: 1 });
  });
});

describe('splitting, packing, replay, shuffling', () => {
  const exs = (n: number, off = 0): Example[] => Array.from({ length: n }, (_, i) => ({ inputIds: [1, i + off + 10, 2], labels: [1, i + off + 10, 2] }));

  it('eval split is deterministic by seed and disjoint', () => {
    const a = splitEval(exs(20), 0.2, 1);
    const b = splitEval(exs(20), 0.2, 1);
    const c = splitEval(exs(20), 0.2, 2);
    expect(a.eval).toHaveLength(4);
    expect(a).toEqual(b);
    expect(a.eval).not.toEqual(c.eval);
    const trainKeys = new Set(a.train.map((e) => e.inputIds[1]));
    expect(a.eval.every((e) => !trainKeys.has(e.inputIds[1]))).toBe(true);
  });

  it('packing fills rows of exactly seq_len', () => {
    const packed = packExamples(exs(10), 8);
    expect(packed.map((p) => p.inputIds.length)).toEqual([8, 8, 8, 6]);
    expect(packed.flatMap((p) => p.inputIds)).toEqual(exs(10).flatMap((e) => e.inputIds));
  });

  it('replay mixes the requested fraction of older examples', () => {
    const mixed = mixReplay(exs(30), exs(5, 1000), 0.25, 3);
    expect(mixed).toHaveLength(40);
    expect(mixed.filter((e) => e.inputIds[1]! >= 1000)).toHaveLength(10);
    expect(mixReplay(exs(30), exs(5, 1000), 0.25, 3)).toEqual(mixed);
    expect(() => mixReplay(exs(3), exs(3), 1, 0)).toThrow(/\[0, 1\)/);
  });

  it('shuffles deterministically by seed, differently per epoch', () => {
    const order = (seed: number, batches: number) => {
      const l = new DataLoader(exs(12), { batchSize: 4, seed });
      return Array.from({ length: batches }, () => l.next().examples.map((e) => e.inputIds[1]));
    };
    expect(order(7, 6)).toEqual(order(7, 6));
    expect(order(7, 3)).not.toEqual(order(8, 3));
    const [e0, e1] = [order(7, 3).flat(), order(7, 6).slice(3).flat()];
    expect([...e0].sort()).toEqual([...e1].sort()); // each epoch is a permutation
    expect(e0).not.toEqual(e1);
  });

  it('loader state saved mid-epoch restores the identical batch sequence', () => {
    const a = new DataLoader(exs(10), { batchSize: 3, seed: 5 });
    for (let i = 0; i < 5; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state()));
    const rest = Array.from({ length: 7 }, () => a.next());
    const b = new DataLoader(exs(10), { batchSize: 3, seed: 5 });
    b.restore(saved);
    expect(Array.from({ length: 7 }, () => b.next())).toEqual(rest);
    expect(() => new DataLoader(exs(9), { batchSize: 3, seed: 5 }).restore(saved)).toThrow(/checkpoint saw 10 examples/);
    // last partial batch of an epoch, then a new epoch
    const c = new DataLoader(exs(10), { batchSize: 4, seed: 1 });
    expect([c.next(), c.next(), c.next(), c.next()].map((x) => [x.examples.length, x.epoch])).toEqual([[4, 0], [4, 0], [2, 0], [4, 1]]);
  });

  it('collate right-pads with pad id and -100 and counts shifted labels', () => {
    const b = collate([{ inputIds: [1, 5, 6], labels: [-100, 5, 6] }, { inputIds: [1, 7], labels: [1, 7] }], 0);
    expect(b.seqLen).toBe(3);
    expect([...b.inputIds]).toEqual([1n, 5n, 6n, 1n, 7n, 0n]);
    expect([...b.labels]).toEqual([-100n, 5n, 6n, 1n, 7n, -100n]);
    expect([...b.attentionMask]).toEqual([1n, 1n, 1n, 1n, 1n, 0n]);
    expect(b.numTokens).toBe(5);
    expect(b.numLabels).toBe(3);
  });

  it('prepareData: eval file or split, replay and packing', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ text: `record number ${i}` }));
    const p = await jsonl('main.jsonl', rows);
    const old = await jsonl('old.jsonl', [{ text: 'older data one' }, { text: 'older data two' }]);
    const d = await prepareData(tok, { dataPath: p, evalSplit: 0.2, seqLen: 64, seed: 1, replay: { dataPath: old, fraction: 0.5 } });
    expect(d.eval).toHaveLength(2);
    expect(d.train).toHaveLength(16);
    expect(d.stats.replayExamples).toBe(8);
    const packed = await prepareData(tok, { dataPath: p, evalDataPath: old, seqLen: 16, seed: 1, packing: true });
    expect(packed.train.slice(0, -1).every((e) => e.inputIds.length === 16)).toBe(true);
    expect(packed.eval.length).toBeGreaterThan(0);
  });
});
