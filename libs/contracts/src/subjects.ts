/**
 * NATS subjects and JetStream streams used between CLARA services.
 *
 * WARNING: these values are live subject names on the wire. Renaming one breaks every
 * deployed producer or consumer that still uses the old name: add a new subject instead.
 */
export const Streams = {
  /** Every training-job event: clara.training.jobs.<jobId>.<event>. */
  TrainingJobs: 'CLARA_TRAINING_JOBS',
  /** Adapter registry changes: clara.adapters.<adapterId>.<event>. */
  Adapters: 'CLARA_ADAPTERS',
  /** Dataset service events: clara.datasets.<kind>.<event>. */
  Datasets: 'CLARA_DATASETS',
} as const;

export const StreamSubjects = {
  [Streams.TrainingJobs]: ['clara.training.jobs.>'],
  [Streams.Adapters]: ['clara.adapters.>'],
  [Streams.Datasets]: ['clara.datasets.>'],
} as const;

/** Kinds of training-job event; the last token of the job event subject. */
export enum TrainingJobEventType {
  Created = 'created',
  Queued = 'queued',
  Claimed = 'claimed',
  Started = 'started',
  Progress = 'progress',
  Eval = 'eval',
  Checkpoint = 'checkpoint',
  Cancelling = 'cancelling',
  Cancelled = 'cancelled',
  Completed = 'completed',
  Failed = 'failed',
  Requeued = 'requeued',
}

export const Subjects = {
  /** clara.training.jobs.<jobId>.<event> — published from the transactional outbox. */
  trainingJobEvent: (jobId: string, event: TrainingJobEventType | `${TrainingJobEventType}`) =>
    `clara.training.jobs.${jobId}.${event}`,
  /** Wildcard for all job events. */
  trainingJobEventsAll: 'clara.training.jobs.>',
  /** Core-NATS wake-up for idle workers (no payload needed; they claim from PostgreSQL). */
  trainingQueueWake: 'clara.training.queue.wake',
  /** Core-NATS request/reply: asks a running worker to stop a job at the next step. */
  trainingJobCancel: (jobId: string) => `clara.training.control.${jobId}.cancel`,

  adapterEvent: (adapterId: string, event: 'registered' | 'deleted' | 'updated') => `clara.adapters.${adapterId}.${event}`,
  adapterEventsAll: 'clara.adapters.>',

  /** Serving replicas converge on one adapter set through these. */
  servingAdapterCommand: 'clara.serving.adapters.command',

  datasetDocumentsIngested: 'clara.datasets.documents.ingested',
  datasetVersionCreated: 'clara.datasets.versions.created',
  /**
   * Core-NATS request/reply answered by the datasets service. All request subjects live under `clara.rpc.`,
   * outside every JetStream stream: a stream capturing a request subject would answer it with its publish-ack
   * before the service does.
   */
  /** The training API forwards the seed's `/api/datasets/search` and `/api/datasets/statistics` here. */
  datasetSearchRequest: 'clara.rpc.datasets.search',
  datasetStatisticsRequest: 'clara.rpc.datasets.statistics',
  /** Export a dataset version as JSONL for a training job (DatasetExportRpcRequest → DatasetExportRpcReply). */
  datasetExportRequest: 'clara.rpc.datasets.export',
  /** Record that a training job used a dataset version (lineage). */
  datasetLineageRequest: 'clara.rpc.datasets.lineage',
} as const;

/** Every request/reply subject; none may fall inside a JetStream stream (checked in subjects.spec.ts). */
export const RequestSubjects = [
  Subjects.datasetSearchRequest,
  Subjects.datasetStatisticsRequest,
  Subjects.datasetExportRequest,
  Subjects.datasetLineageRequest,
] as const;
