/**
 * JSONL export of a frozen version, streamed from PostgreSQL to files under the data directory, with a
 * deterministic train/eval split (a hash of seed + record key, so the same seed always gives the same split).
 * Formats are the ones the training engine reads: `text` {"text"}, `chat` {"messages"}, `alpaca`
 * {"instruction","input","output"}. chat/alpaca records come from documents ingested as instruction pairs,
 * or from any document through a user-supplied template.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { Uds3InputError } from '../errors.js';
import { fnv1a } from '../embed/hashing-embedder.js';
import type { PgMetadataStore, VersionItem, VersionRow } from '../stores/postgres/pg-metadata-store.js';

export const EXPORT_FORMATS = ['text', 'chat', 'alpaca'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportTemplate {
  /** May use {title}, {content}, {domain}, {document_type}. */
  instruction: string;
  input?: string;
  output: string;
  system?: string;
}

export interface ExportOptions {
  format: ExportFormat;
  evalFraction: number;
  seed: number;
  template?: ExportTemplate;
}

export interface ExportResult {
  version_id: string;
  format: ExportFormat;
  seed: number;
  eval_fraction: number;
  train_path: string;
  eval_path: string;
  train_count: number;
  eval_count: number;
  skipped: number;
}

export function parseExportOptions(body: unknown): ExportOptions {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const format = b.format ?? 'text';
  if (!(EXPORT_FORMATS as readonly unknown[]).includes(format)) throw new Uds3InputError('format', `must be one of ${EXPORT_FORMATS.join(', ')}`);
  const evalFraction = b.eval_fraction ?? 0.1;
  if (typeof evalFraction !== 'number' || !(evalFraction >= 0 && evalFraction < 1)) throw new Uds3InputError('eval_fraction', 'must be a number in [0, 1)');
  const seed = b.seed ?? 42;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 2 ** 31) throw new Uds3InputError('seed', 'must be a non-negative integer');
  let template: ExportTemplate | undefined;
  if (b.template !== undefined) {
    const t = b.template as Record<string, unknown>;
    if (typeof t !== 'object' || t === null || typeof t.instruction !== 'string' || typeof t.output !== 'string') {
      throw new Uds3InputError('template', 'must be { instruction: string, output: string, input?: string, system?: string }');
    }
    for (const k of ['input', 'system'] as const) if (t[k] !== undefined && typeof t[k] !== 'string') throw new Uds3InputError(`template.${k}`, 'must be a string');
    template = t as unknown as ExportTemplate;
  }
  return { format: format as ExportFormat, evalFraction, seed, template };
}

/** Deterministic split: the record goes to eval when hash(seed:key) / 2^32 < fraction. */
export function isEval(key: string, seed: number, fraction: number): boolean {
  return fnv1a(`${seed}:${key}`) / 2 ** 32 < fraction;
}

function render(template: string, item: VersionItem): string {
  return template.replace(/\{(title|content|domain|document_type)\}/g, (_, k: keyof VersionItem) => String(item[k]));
}

/** The record for one item, or null when the item has nothing in this format. */
export function toRecord(item: VersionItem, format: ExportFormat, template?: ExportTemplate): { key: string; record: object } | null {
  if (format === 'text') return { key: item.chunk_id, record: { text: item.content } };
  if (item.pair) {
    const messages = item.pair.messages;
    if (format === 'chat') return { key: item.document_id, record: { messages } };
    const alpaca = item.pair.alpaca ?? {
      instruction: messages.filter((m) => m.role !== 'assistant').map((m) => m.content).join('\n\n'),
      input: '',
      output: messages.find((m) => m.role === 'assistant')?.content ?? '',
    };
    return { key: item.document_id, record: alpaca };
  }
  if (!template) return null;
  const instruction = render(template.instruction, item);
  const input = template.input ? render(template.input, item) : '';
  const output = render(template.output, item);
  if (format === 'alpaca') return { key: item.chunk_id, record: { instruction, input, output } };
  const messages = [
    ...(template.system ? [{ role: 'system', content: render(template.system, item) }] : []),
    { role: 'user', content: input ? `${instruction}\n\n${input}` : instruction },
    { role: 'assistant', content: output },
  ];
  return { key: item.chunk_id, record: { messages } };
}

async function write(stream: WriteStream, line: string): Promise<void> {
  if (!stream.write(line)) await once(stream, 'drain');
}

async function finish(stream: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) => stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export function exportDir(dataDir: string, version: VersionRow): string {
  return join(dataDir, 'datasets', version.dataset, `v${version.number}-${version.id.slice(0, 12)}`);
}

export async function exportVersion(meta: PgMetadataStore, version: VersionRow, dataDir: string, options: ExportOptions): Promise<ExportResult> {
  const dir = exportDir(dataDir, version);
  await mkdir(dir, { recursive: true });
  const base = `${options.format}-seed${options.seed}-eval${options.evalFraction}`;
  const trainPath = join(dir, `${base}-train.jsonl`);
  const evalPath = join(dir, `${base}-eval.jsonl`);
  // written to temporary names and renamed at the end, so a download never sees a half-written file
  const train = createWriteStream(`${trainPath}.partial`);
  const evaluation = createWriteStream(`${evalPath}.partial`);
  let trainCount = 0;
  let evalCount = 0;
  let skipped = 0;
  const seenKeys = new Set<string>();
  try {
    for await (const item of meta.versionItems(version.id)) {
      const r = toRecord(item, options.format, options.template);
      // pair records are per document: a multi-chunk pair document is written once
      if (!r || seenKeys.has(r.key)) {
        if (!r) skipped++;
        continue;
      }
      if (r.key === item.document_id) seenKeys.add(r.key);
      const line = JSON.stringify(r.record) + '\n';
      if (isEval(r.key, options.seed, options.evalFraction)) {
        evalCount++;
        await write(evaluation, line);
      } else {
        trainCount++;
        await write(train, line);
      }
    }
  } finally {
    await Promise.all([finish(train), finish(evaluation)]);
  }
  await rename(`${trainPath}.partial`, trainPath);
  await rename(`${evalPath}.partial`, evalPath);
  return {
    version_id: version.id,
    format: options.format,
    seed: options.seed,
    eval_fraction: options.evalFraction,
    train_path: trainPath,
    eval_path: evalPath,
    train_count: trainCount,
    eval_count: evalCount,
    skipped,
  };
}
