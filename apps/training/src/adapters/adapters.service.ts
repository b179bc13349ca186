/**
 * Adapter registry use cases: list, detail (versions, lineage, metrics, files), delete (admin) and download of the
 * PEFT directory as a tar archive. Registry changes are announced on NATS (Subjects.adapterEvent) for serving.
 */
import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { pack, type Pack } from 'tar-stream';
import { Subjects, type AdapterRegistryEventPayload } from '@clara/contracts';
import type { AdapterEntity, AdapterRepository } from '@clara/data-access';
import type { Logger, MessageBus } from '@clara/platform';

export const ADAPTERS_DEPS = Symbol('ADAPTERS_DEPS');

export interface AdaptersDeps {
  adapters: AdapterRepository;
  bus: MessageBus;
  dataDir: string;
  logger: Logger;
}

export interface AdapterSummary {
  id: string;
  name: string;
  version: number;
  parent_id: string | null;
  base_model: string;
  dataset: string | null;
  job_id: string | null;
  metrics: Record<string, unknown>;
  created_at: string;
}

export interface AdapterFile {
  name: string;
  size: number;
}

function summary(a: AdapterEntity): AdapterSummary {
  return {
    id: a.id,
    name: a.name,
    version: a.version,
    parent_id: a.parentId,
    base_model: a.baseModel,
    dataset: a.datasetRef,
    job_id: a.jobId,
    metrics: a.metrics,
    created_at: new Date(a.createdAt).toISOString(),
  };
}

@Injectable()
export class AdaptersService {
  constructor(@Inject(ADAPTERS_DEPS) private readonly deps: AdaptersDeps) {}

  async list(filter: { name?: string; baseModel?: string; limit: number }) {
    const rows = await this.deps.adapters.list(1000);
    const adapters = rows
      .filter((a) => (!filter.name || a.name === filter.name) && (!filter.baseModel || a.baseModel === filter.baseModel))
      .slice(0, filter.limit)
      .map(summary);
    return { adapters, count: adapters.length };
  }

  private async find(id: string): Promise<AdapterEntity> {
    const a = await this.deps.adapters.findById(id);
    if (!a) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `adapter ${id} not found` });
    return a;
  }

  /** Files of the adapter directory; only plain files directly inside it (the PEFT layout is flat). */
  private async files(a: AdapterEntity): Promise<AdapterFile[]> {
    const entries = await readdir(a.path, { withFileTypes: true }).catch(() => []);
    const out: AdapterFile[] = [];
    for (const e of entries) if (e.isFile()) out.push({ name: e.name, size: (await stat(join(a.path, e.name))).size });
    return out.sort((x, y) => x.name.localeCompare(y.name));
  }

  async get(id: string) {
    const a = await this.find(id);
    const [lineage, all, files] = await Promise.all([this.deps.adapters.lineage(id), this.deps.adapters.list(1000), this.files(a)]);
    const versions = all.filter((x) => x.name === a.name).sort((x, y) => x.version - y.version).map((x) => ({ id: x.id, version: x.version, created_at: new Date(x.createdAt).toISOString() }));
    return {
      ...summary(a),
      path: a.path,
      files,
      versions,
      lineage: lineage.map((x) => ({ id: x.id, name: x.name, version: x.version, base_model: x.baseModel, dataset: x.datasetRef, job_id: x.jobId })),
      children: all.filter((x) => x.parentId === a.id).map((x) => ({ id: x.id, name: x.name, version: x.version })),
    };
  }

  async delete(id: string, by: string) {
    const a = await this.find(id);
    await this.deps.adapters.delete(id);
    // Files under the data directory are ours to remove; anything registered from elsewhere is left alone.
    const root = resolve(this.deps.dataDir);
    const rel = relative(root, resolve(a.path));
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) await rm(a.path, { recursive: true, force: true });
    const payload: AdapterRegistryEventPayload = { id: a.id, name: a.name, version: a.version, baseModel: a.baseModel };
    await this.deps.bus.publish(Subjects.adapterEvent(a.id, 'deleted'), payload).catch((err: Error) => this.deps.logger.warn('could not publish adapter deleted', { err }));
    this.deps.logger.info('adapter deleted', { adapter_id: a.id, name: a.name, version: a.version, by });
    return { success: true, id: a.id, message: `adapter ${a.name} v${a.version} deleted` };
  }

  /** A tar stream of the PEFT directory, entries under `<name>-v<version>/`. */
  async archive(id: string): Promise<{ filename: string; stream: Pack }> {
    const a = await this.find(id);
    const files = await this.files(a);
    if (!files.length) throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `adapter ${id} has no files on disk` });
    const base = `${a.name}-v${a.version}`;
    const tar = pack();
    void (async () => {
      try {
        for (const f of files) {
          const entry = tar.entry({ name: `${base}/${f.name}`, size: f.size, mode: 0o644, mtime: new Date(a.createdAt) });
          await new Promise<void>((res, rej) => createReadStream(join(a.path, f.name)).on('error', rej).pipe(entry).on('finish', res).on('error', rej));
        }
        tar.finalize();
      } catch (err) {
        tar.destroy(err as Error);
      }
    })();
    return { filename: `${base}.tar`, stream: tar };
  }
}
