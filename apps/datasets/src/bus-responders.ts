/**
 * Bus request/reply for other services: the training API forwards the seed's /api/datasets/search and
 * /statistics here (same use cases as HTTP, so the same answers and the same 400s), and asks for exports
 * of dataset versions for training jobs (recording lineage).
 */
import { DatasetRpcSubjects, Subjects, type DatasetExportRpcReply, type DatasetExportRpcRequest, type DatasetForwardRequest } from '@clara/contracts';
import type { MessageBus, Subscription } from '@clara/platform';
import { hasPermission, Permission } from '@clara/auth';
import type { DatasetsService } from './datasets.service.js';
import { httpStatusOf } from './http/errors.js';

/** Rethrows with the HTTP status the same failure would get over HTTP, so the requester can pass it on. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const status = httpStatusOf(err);
    if (status) throw Object.assign(new Error((err as Error).message), { status });
    throw err;
  }
}

export async function startBusResponders(bus: MessageBus, datasets: DatasetsService): Promise<Subscription[]> {
  const queue = 'clara-datasets';
  return Promise.all([
    bus.reply<DatasetForwardRequest, unknown>(
      Subjects.datasetSearchRequest,
      (req) => answer(() => datasets.search(req?.payload ?? {})),
      { queue },
    ),
    bus.reply<DatasetForwardRequest, unknown>(
      Subjects.datasetStatisticsRequest,
      (req) => answer(() => datasets.statistics((req?.payload ?? {}) as Record<string, unknown>)),
      { queue },
    ),
    bus.reply<DatasetForwardRequest<DatasetExportRpcRequest>, DatasetExportRpcReply>(
      DatasetRpcSubjects.exportVersion,
      (req) =>
        answer(async () => {
          if (req?.user && !hasPermission(req.user.roles, Permission.DatasetWrite)) {
            throw Object.assign(new Error('exporting a dataset version needs the admin or trainer role'), { status: 403 });
          }
          const { version, training_job_id, ...options } = req?.payload ?? ({} as DatasetExportRpcRequest);
          const result = await datasets.export(String(version ?? ''), options);
          if (training_job_id) await datasets.recordLineage(result.version_id, { training_job_id });
          return {
            version_id: result.version_id,
            format: result.format,
            train_path: result.train_path,
            eval_path: result.eval_path,
            train_count: result.train_count,
            eval_count: result.eval_count,
          };
        }),
      { queue },
    ),
    bus.reply<DatasetForwardRequest<{ version: string; training_job_id: string; relation?: string }>, unknown>(
      DatasetRpcSubjects.recordLineage,
      (req) => answer(() => datasets.recordLineage(String(req?.payload?.version ?? ''), req?.payload ?? {})),
      { queue },
    ),
  ]);
}
