/**
 * Sentence embeddings from an ONNX model in a local directory (e.g. an exported MiniLM/E5/GBERT encoder):
 * `model.onnx` + `tokenizer.json` (+ optional `tokenizer_config.json`). Runs the encoder, mean-pools the
 * last hidden state over the attention mask and L2-normalises. Nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { l2normalise, type Embedder } from './embedder.js';

export interface OnnxEmbedderOptions {
  /** Longest input in tokens; longer texts are truncated. */
  maxLength?: number;
  batchSize?: number;
}

export class OnnxEmbedder implements Embedder {
  private constructor(
    readonly name: string,
    readonly dimension: number,
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly maxLength: number,
    private readonly batchSize: number,
    private readonly unkId: number,
  ) {}

  static async load(dir: string, options: OnnxEmbedderOptions = {}): Promise<OnnxEmbedder> {
    const modelPath = join(dir, 'model.onnx');
    const tokenizerPath = join(dir, 'tokenizer.json');
    for (const p of [modelPath, tokenizerPath]) if (!existsSync(p)) throw new Error(`embedding model directory ${dir} lacks ${p}`);
    const configPath = join(dir, 'tokenizer_config.json');
    const tokenizerJson = JSON.parse(await readFile(tokenizerPath, 'utf8'));
    const tokenizer = new Tokenizer(tokenizerJson, existsSync(configPath) ? JSON.parse(await readFile(configPath, 'utf8')) : {});
    // tokenizers.js leaves out-of-vocabulary words of WordLevel/WordPiece models undefined: map them to the unknown token
    const unkId = tokenizer.token_to_id(tokenizerJson.model?.unk_token ?? '[UNK]') ?? 0;
    // loaded here, not on import: a service on the hashing embedder never maps ONNX Runtime's 45 MB native library
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
    const probe = new OnnxEmbedder(`onnx:${dir}`, 0, ort, session, tokenizer, options.maxLength ?? 256, options.batchSize ?? 16, unkId);
    const [v] = await probe.embed(['dimension probe']);
    return new OnnxEmbedder(`onnx:${dir}`, v.length, ort, session, tokenizer, options.maxLength ?? 256, options.batchSize ?? 16, unkId);
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) out.push(...(await this.embedBatch(texts.slice(i, i + this.batchSize))));
    return out;
  }

  private async embedBatch(texts: string[]): Promise<Float32Array[]> {
    const encoded = texts.map((t) => this.tokenizer.encode(t).ids.slice(0, this.maxLength).map((id: number | undefined) => id ?? this.unkId));
    const seq = Math.max(1, ...encoded.map((e) => e.length));
    const ids = new BigInt64Array(texts.length * seq);
    const mask = new BigInt64Array(texts.length * seq);
    encoded.forEach((e: number[], b: number) => e.forEach((id: number, t: number) => ((ids[b * seq + t] = BigInt(id)), (mask[b * seq + t] = 1n))));
    const feeds: Record<string, Ort.Tensor> = {};
    const dims = [texts.length, seq];
    for (const name of this.session.inputNames) {
      if (name === 'input_ids') feeds[name] = new this.ort.Tensor('int64', ids, dims);
      else if (name === 'attention_mask') feeds[name] = new this.ort.Tensor('int64', mask, dims);
      else if (name === 'token_type_ids') feeds[name] = new this.ort.Tensor('int64', new BigInt64Array(ids.length), dims);
      else throw new Error(`embedding model has an unexpected input "${name}"`);
    }
    const results = await this.session.run(feeds);
    const hidden = results['last_hidden_state'] ?? results[this.session.outputNames[0]];
    const [batch, tokens, width] = hidden.dims as number[];
    const data = hidden.data as Float32Array;
    const vectors: Float32Array[] = [];
    for (let b = 0; b < batch; b++) {
      const v = new Float32Array(width);
      let n = 0;
      for (let t = 0; t < tokens; t++) {
        if (mask[b * seq + t] === 0n) continue;
        n++;
        const base = (b * tokens + t) * width;
        for (let h = 0; h < width; h++) v[h] += data[base + h];
      }
      if (n > 0) for (let h = 0; h < width; h++) v[h] /= n;
      vectors.push(l2normalise(v));
    }
    return vectors;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
