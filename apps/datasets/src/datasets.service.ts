/**
 * The datasets use cases, shared by the HTTP controller and the bus responders so both answer the same way.
 * Domain logic lives in @clara/uds3; this adds what belongs to the service: events, files under the data dir.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { once } from 'node:events';
import { Inject, Injectable } from '@nestjs/common';
import {
  Subjects,
  type DatasetDocumentsIngestedEvent,
  type DatasetSearchResponse,
  type DatasetVersionCreatedEvent,
} from '@clara/contracts';
import type { Logger, MessageBus } from '@clara/platform';
import {
  Uds3InputError,
  Uds3NotFoundError,
  exportDir,
  exportVersion,
  parseExportOptions,
  type CreateVersionInput,
  type DocumentInput,
  type SearchOutcome,
  type Uds3,
} from '@clara/uds3';

export const DATASETS_DEPS = Symbol('DATASETS_DEPS');
export interface DatasetsDeps {
  uds3: Uds3;
  bus: MessageBus;
  dataDir: string;
  logger: Logger;
  maxUploadBytes: number;
}

@Injectable()
export class DatasetsService {
  constructor(@Inject(DATASETS_DEPS) private readonly deps: DatasetsDeps) {}

  get maxUploadBytes() {
    return this.deps.maxUploadBytes;
  }

  /** Whether the service is ready for searches: the start-up warm-up of the search caches has ended. */
  get ready(): boolean {
    return this.deps.uds3.warm;
  }

  async ingest(documents: DocumentInput[], user: string | null) {
    const outcome = await this.deps.uds3.ingest(documents);
    const event: DatasetDocumentsIngestedEvent = {
      document_ids: outcome.document_ids,
      chunk_count: outcome.chunk_count,
      token_count: outcome.token_count,
      near_duplicates: outcome.near_duplicates.length,
      ingested_by: user,
      at: new Date().toISOString(),
    };
    await this.publish(Subjects.datasetDocumentsIngested, event);
    return { success: true, ...outcome, message: `Ingested ${outcome.document_ids.length} documents (${outcome.chunk_count} chunks)` };
  }

  async search(body: unknown): Promise<DatasetSearchResponse & { timings_ms: SearchOutcome['timings_ms']; fusion: string }> {
    const outcome = await this.deps.uds3.search(body);
    const wantsExport = (body as { export?: boolean }).export !== false;
    const datasetPath = wantsExport && outcome.results.length ? await this.writeSearchDataset(outcome) : null;
    const docs = outcome.statistics.total_documents;
    return {
      success: true,
      documents_found: docs,
      statistics: outcome.statistics,
      dataset_path: datasetPath,
      message: `Found ${docs} documents matching query`,
      results: outcome.results,
      fusion: outcome.query.fusion,
      timings_ms: outcome.timings_ms,
    };
  }

  /** The seed wrote each search's results as a training JSONL; so do we (streamed, one {"text"} per chunk). */
  private async writeSearchDataset(outcome: SearchOutcome): Promise<string> {
    const slug =
      outcome.query.queryText
        .toLowerCase()
        .replace(/ä/g, 'ae')
        .replace(/ö/g, 'oe')
        .replace(/ü/g, 'ue')
        .replace(/ß/g, 'ss')
        .normalize('NFKD')
        .replace(/[^a-z0-9]+/g, '_')
        .replace(/^_|_$/g, '')
        .slice(0, 60) || 'query';
    const dir = join(this.deps.dataDir, 'training_datasets');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `${slug}_${outcome.statistics.total_documents}.jsonl`);
    const out = createWriteStream(path);
    for (const r of outcome.results) {
      const line = JSON.stringify({ text: r.content, metadata: { document_id: r.document_id, chunk_id: r.chunk_id, title: r.title, domain: r.domain, document_type: r.document_type, score: r.score, quality_score: r.quality_score } });
      if (!out.write(line + '\n')) await once(out, 'drain');
    }
    await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
    return path;
  }

  statistics(query: Record<string, unknown>) {
    const { domain, document_type, source, language } = query as Record<string, string | undefined>;
    const unknown = Object.keys(query).find((k) => !['domain', 'document_type', 'source', 'language'].includes(k));
    if (unknown) throw new Uds3InputError(unknown, 'unknown filter field; allowed: domain, document_type, source, language');
    const filters = Object.fromEntries(Object.entries({ domain, document_type, source, language }).filter(([, v]) => v !== undefined));
    return this.deps.uds3.statistics(filters).then((statistics) => ({ success: true, statistics }));
  }

  getDocument(id: string) {
    return this.deps.uds3.getDocument(id);
  }

  async deleteDocument(id: string) {
    const deleted = await this.deps.uds3.deleteDocuments([id]);
    if (!deleted) throw new Uds3NotFoundError(`document ${id} not found`);
    return { success: true, deleted: id };
  }

  async createVersion(body: CreateVersionInput, user: string | null) {
    const { version, created } = await this.deps.uds3.createVersion(body ?? ({} as CreateVersionInput), user);
    if (created) {
      const event: DatasetVersionCreatedEvent = {
        version_id: version.id,
        dataset: version.dataset,
        number: version.number,
        manifest_hash: version.manifest_hash,
        item_count: version.item_count,
        token_count: version.token_count,
        created_by: user,
        at: new Date().toISOString(),
      };
      await this.publish(Subjects.datasetVersionCreated, event);
    }
    return { success: true, created, version };
  }

  listVersions(dataset?: string) {
    return this.deps.uds3.stores.metadata.listVersions(dataset).then((versions) => ({ versions }));
  }

  getVersion(id: string) {
    return this.deps.uds3.getVersion(id);
  }

  diff(a: string, b: string) {
    return this.deps.uds3.diffVersions(a, b);
  }

  async export(id: string, body: unknown) {
    const version = await this.deps.uds3.getVersion(id);
    const result = await exportVersion(this.deps.uds3.stores.metadata, version, this.deps.dataDir, parseExportOptions(body));
    const file = (p: string) => p.slice(p.lastIndexOf(sep) + 1);
    return {
      success: true,
      ...result,
      train_url: `/api/datasets/versions/${version.id}/files/${file(result.train_path)}`,
      eval_url: `/api/datasets/versions/${version.id}/files/${file(result.eval_path)}`,
    };
  }

  /** Absolute path of an exported file of a version, refusing anything outside its export directory. */
  async exportedFile(id: string, name: string): Promise<string> {
    const version = await this.deps.uds3.getVersion(id);
    if (!/^[A-Za-z0-9._-]+\.jsonl$/.test(name)) throw new Uds3InputError('file', 'must be an exported .jsonl file name');
    const dir = resolve(exportDir(this.deps.dataDir, version));
    const path = resolve(dir, name);
    if (!path.startsWith(dir + sep)) throw new Uds3InputError('file', 'must be an exported .jsonl file name');
    return path;
  }

  recordLineage(id: string, body: { training_job_id?: unknown; relation?: unknown }) {
    return this.deps.uds3.recordLineage(id, body?.training_job_id, body?.relation ?? 'trained_on');
  }

  async lineageOfVersion(id: string) {
    const v = await this.deps.uds3.getVersion(id);
    return { version_id: v.id, training_jobs: await this.deps.uds3.stores.metadata.lineageOfVersion(v.id) };
  }

  async versionsOfJob(jobId: string) {
    return { training_job_id: jobId, versions: await this.deps.uds3.stores.metadata.versionsOfJob(jobId) };
  }

  private async publish(subject: string, payload: object) {
    try {
      await this.deps.bus.publish(subject, payload);
    } catch (err) {
      // the write is committed; a lost notification must not turn it into an error for the client
      this.deps.logger.error('event publish failed', { subject, err: err as Error });
    }
  }
}
