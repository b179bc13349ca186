/**
 * OnnxEmbedder against a real ONNX Runtime session on a tiny encoder this test builds itself (protobufjs wire
 * writer): last_hidden_state = Gather(E, input_ids), with a WordLevel tokenizer.json. The embedder must return
 * the L2-normalised mean of E's rows over the attended tokens — checked numerically in float64.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs/minimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxEmbedder } from '../src/embed/onnx-embedder.js';

const VOCAB = ['[UNK]', 'photovoltaik', 'auf', 'dem', 'dach', 'baurecht', 'außenbereich', 'windenergie'];
const HIDDEN = 6;
const LEN = 2;
const VARINT = 0;

// E[v][h] = deterministic pseudo-random values
const E = VOCAB.map((_, v) => Array.from({ length: HIDDEN }, (_, h) => Math.sin(v * 7.3 + h * 1.7) + (v === h ? 1 : 0)));

function modelBytes(): Uint8Array {
  const w = protobuf.Writer.create();
  const tag = (field: number, wire: number) => w.uint32((field << 3) | wire);
  const valueInfo = (name: string, elemType: number, dims: (number | string)[]) => {
    tag(1, LEN).string(name);
    tag(2, LEN).fork(); // TypeProto
    tag(1, LEN).fork(); // tensor_type
    tag(1, VARINT).int32(elemType);
    tag(2, LEN).fork(); // shape
    for (const d of dims) {
      tag(1, LEN).fork();
      if (typeof d === 'number') tag(1, VARINT).int64(d);
      else tag(2, LEN).string(d);
      w.ldelim();
    }
    w.ldelim();
    w.ldelim();
    w.ldelim();
  };
  tag(1, VARINT).int64(8); // ir_version
  tag(8, LEN).fork(); // opset_import
  tag(1, LEN).string('');
  tag(2, VARINT).int64(18);
  w.ldelim();
  tag(7, LEN).fork(); // graph
  tag(1, LEN).fork(); // node: Gather(E, input_ids) -> last_hidden_state
  tag(1, LEN).string('E');
  tag(1, LEN).string('input_ids');
  tag(2, LEN).string('last_hidden_state');
  tag(3, LEN).string('embed');
  tag(4, LEN).string('Gather');
  w.ldelim();
  tag(2, LEN).string('tiny-encoder');
  tag(5, LEN).fork(); // initializer E (float32)
  tag(1, VARINT).int64(VOCAB.length);
  tag(1, VARINT).int64(HIDDEN);
  tag(2, VARINT).int32(1);
  tag(8, LEN).string('E');
  tag(9, LEN).bytes(new Uint8Array(new Float32Array(E.flat()).buffer));
  w.ldelim();
  tag(11, LEN).fork();
  valueInfo('input_ids', 7, ['batch', 'seq']);
  w.ldelim();
  tag(11, LEN).fork();
  valueInfo('attention_mask', 7, ['batch', 'seq']);
  w.ldelim();
  tag(12, LEN).fork();
  valueInfo('last_hidden_state', 1, ['batch', 'seq', HIDDEN]);
  w.ldelim();
  w.ldelim();
  return w.finish();
}

const tokenizerJson = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: { type: 'Lowercase' },
  pre_tokenizer: { type: 'Whitespace' },
  post_processor: null,
  decoder: null,
  model: { type: 'WordLevel', vocab: Object.fromEntries(VOCAB.map((t, i) => [t, i])), unk_token: '[UNK]' },
};

function expected(words: string[]): number[] {
  const ids = words.map((w) => Math.max(0, VOCAB.indexOf(w.toLowerCase())));
  const mean = Array.from({ length: HIDDEN }, (_, h) => ids.reduce((s, id) => s + E[id][h], 0) / ids.length);
  const norm = Math.sqrt(mean.reduce((s, x) => s + x * x, 0));
  return mean.map((x) => x / norm);
}

describe('OnnxEmbedder', () => {
  let dir: string;
  let embedder: OnnxEmbedder;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uds3-onnx-'));
    writeFileSync(join(dir, 'model.onnx'), modelBytes());
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    embedder = await OnnxEmbedder.load(dir);
  });
  afterAll(async () => {
    await embedder?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the model width and mean-pools + normalises the hidden states', async () => {
    expect(embedder.dimension).toBe(HIDDEN);
    const [v] = await embedder.embed(['Photovoltaik auf dem Dach']);
    const want = expected(['photovoltaik', 'auf', 'dem', 'dach']);
    for (let h = 0; h < HIDDEN; h++) expect(v[h]).toBeCloseTo(want[h], 5);
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
  });

  it('ignores padding: a short text embeds the same alone and in a batch with a longer one', async () => {
    const [alone] = await embedder.embed(['Baurecht']);
    const [short, long] = await embedder.embed(['Baurecht', 'Windenergie im Baurecht auf dem Dach']);
    for (let h = 0; h < HIDDEN; h++) expect(short[h]).toBeCloseTo(alone[h], 6);
    const want = expected(['windenergie', 'im', 'baurecht', 'auf', 'dem', 'dach']);
    for (let h = 0; h < HIDDEN; h++) expect(long[h]).toBeCloseTo(want[h], 5);
  });

  it('refuses a directory without a model', async () => {
    await expect(OnnxEmbedder.load(join(dir, 'missing'))).rejects.toThrow(/lacks/);
  });
});

describe('the library on the hashing embedder', () => {
  // a fresh process (this one has loaded ONNX Runtime above), importing the build `npm test` made
  const library = join(dirname(fileURLToPath(import.meta.url)), '../dist/index.js');
  const onnxRuntimeLoaded = (script: string) =>
    execFileSync(process.execPath, ['--input-type=module', '-e', `${script}
      const { createRequire } = await import('node:module');
      const cache = createRequire(import.meta.url).cache;
      console.log(Object.keys(cache).some((file) => file.includes('onnxruntime-node')));`]).toString().trim();

  it('does not load ONNX Runtime (a 45 MB native library) until an ONNX embedder is loaded', () => {
    expect(onnxRuntimeLoaded(`const uds3 = await import(${JSON.stringify(library)}); await uds3.createEmbedder({ kind: 'hashing' });`)).toBe('false');
    // the check sees a load: the same process loading an ONNX embedder's runtime
    expect(onnxRuntimeLoaded(`await import(${JSON.stringify(library)}); await import('onnxruntime-node');`)).toBe('true');
  });
});
