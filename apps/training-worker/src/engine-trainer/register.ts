import type { DataSource } from 'typeorm';
import { AdapterRepository } from '@clara/data-access';
import { assertExecutionProvider, type ExecutionProvider } from './execution-provider.js';
import { DatasetRpcSubjects, type DatasetExportRpcReply, type DatasetExportRpcRequest, type DatasetForwardRequest } from '@clara/contracts';
import type { MessageBus } from '@clara/platform';
import { JobInputError, registerEngineTrainers as register, type DatasetExporter, type ParentAdapter } from './engine-trainer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Registry lookup for continued training: an adapter id, `name@version`, or `name` (its newest version). */
export function adapterFinder(dataSource: DataSource): (ref: string) => Promise<ParentAdapter | null> {
  const repo = new AdapterRepository(dataSource);
  return async (ref) => {
    let row;
    if (UUID.test(ref)) row = await repo.findById(ref);
    else {
      const [name, version] = ref.split('@');
      const rows: { id: string }[] = await dataSource.query(
        version ? `SELECT id FROM adapters WHERE name = $1 AND version = $2` : `SELECT id FROM adapters WHERE name = $1 ORDER BY version DESC LIMIT 1`,
        version ? [name, Number(version) || -1] : [name],
      );
      row = rows[0] ? await repo.findById(rows[0].id) : null;
    }
    return row ? { id: row.id, name: row.name, version: row.version, path: row.path, baseModel: row.baseModel, datasetRef: row.datasetRef } : null;
  };
}

/** Dataset versions → JSONL through the datasets service's request/reply export (DatasetRpcSubjects.exportVersion). */
export function datasetExporter(bus: MessageBus): DatasetExporter {
  return async (version, o) => {
    const req: DatasetForwardRequest<DatasetExportRpcRequest> = {
      payload: { version, eval_fraction: o.evalFraction, seed: o.seed, training_job_id: o.jobId },
    };
    let reply: DatasetExportRpcReply;
    try {
      reply = await bus.request<typeof req, DatasetExportRpcReply>(DatasetRpcSubjects.exportVersion, req, 120_000);
    } catch (err) {
      const e = err as Error & { status?: number };
      throw new JobInputError('dataset', `dataset version "${version}" could not be exported: ${e.message}`);
    }
    return { trainPath: reply.train_path, evalPath: reply.eval_count > 0 ? reply.eval_path : null };
  };
}

/** Called by bootstrap(): fails the worker start when CUDA is asked for but unusable. */
export async function registerEngineTrainers(
  bus: MessageBus,
  dataSource: DataSource,
  config: { CLARA_EXECUTION_PROVIDER: string; CLARA_TRAIN_THREADS: number; CLARA_TRAIN_MAX_HEAP_MB: number; CLARA_TRAIN_MAX_FILE_MB?: number },
): Promise<() => void> {
  const provider = config.CLARA_EXECUTION_PROVIDER as ExecutionProvider;
  await assertExecutionProvider(provider);
  return register({
    findAdapter: adapterFinder(dataSource),
    exportDataset: datasetExporter(bus),
    executionProvider: provider,
    threads: config.CLARA_TRAIN_THREADS,
    maxOldSpaceMb: config.CLARA_TRAIN_MAX_HEAP_MB,
    maxFileSizeMb: config.CLARA_TRAIN_MAX_FILE_MB,
  });
}
