/**
 * Training job vocabulary shared by the training API, the worker, WebSocket clients and other services.
 * Wire names are snake_case (the seed's JSON); do not rename a field that clients read.
 */
import { TrainingJobEventType } from '../subjects.js';

export const TRAINER_TYPES = ['lora', 'qlora', 'continuous'] as const;
export type TrainerType = (typeof TRAINER_TYPES)[number];

export const JOB_STATUSES = ['pending', 'running', 'cancelling', 'cancelled', 'completed', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** A job in one of these states never changes again. */
export const FINISHED_STATUSES: readonly JobStatus[] = ['cancelled', 'completed', 'failed'];

export interface JobMetrics {
  loss?: number;
  lr?: number;
  grad_norm?: number;
  tokens_per_sec?: number;
  eta_seconds?: number;
  eval_loss?: number;
  [name: string]: number | undefined;
}

/**
 * Payload of every message on `clara.training.jobs.<jobId>.<type>` (stream CLARA_TRAINING_JOBS).
 * `seq` increases by one per job with every event; `event_id` is the global outbox id (increasing in
 * publish order across all jobs) and is the resume cursor for "all jobs" subscribers.
 */
export interface TrainingJobEvent {
  event_id: number;
  job_id: string;
  seq: number;
  type: `${TrainingJobEventType}`;
  status: JobStatus;
  occurred_at: string;
  progress_percent: number;
  current_epoch: number | null;
  total_epochs: number | null;
  current_step: number | null;
  total_steps: number | null;
  metrics: JobMetrics;
  attempt?: number;
  worker_id?: string;
  checkpoint?: string;
  error?: string;
  adapter_id?: string;
  message?: string;
}

/** What GET /api/training/jobs/{id} returns. */
export interface TrainingJobView {
  job_id: string;
  status: JobStatus;
  trainer_type: TrainerType;
  priority: number;
  tags: string[];
  base_model: string | null;
  dataset: string | null;
  config_path: string | null;
  config: Record<string, unknown> | null;
  hyperparameters: Record<string, unknown>;
  created_by: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  progress_percent: number;
  current_epoch: number | null;
  total_epochs: number | null;
  current_step: number | null;
  total_steps: number | null;
  metrics: JobMetrics;
  attempts: number;
  max_attempts: number;
  last_checkpoint: string | null;
  adapter_id: string | null;
  error: string | null;
  last_seq: number;
}

// ---- WebSocket /ws/training ------------------------------------------------------------------------------

/** Server → client: one per job event (the seed's `job_update`, extended). */
export interface JobUpdateMessage {
  type: 'job_update';
  event: `${TrainingJobEventType}`;
  job_id: string;
  seq: number;
  event_id: number;
  status: JobStatus;
  progress_percent: number;
  current_epoch: number | null;
  total_epochs: number | null;
  step: number | null;
  total_steps: number | null;
  loss?: number;
  lr?: number;
  eta_seconds?: number;
  eval_loss?: number;
  checkpoint?: string;
  error?: string;
  timestamp: string;
}

/**
 * Client → server.
 * - `{ type: 'subscribe', all: true, after_event_id?: N }`: every job; replays events after the cursor first.
 * - `{ type: 'subscribe', job_ids: [...], last_seq?: { [jobId]: seq } }`: chosen jobs; replays each job's
 *   events after the given seq (0 / absent = from the start).
 * - `{ type: 'unsubscribe', job_ids?: [...] }` (absent = everything), `{ type: 'ping' }` → `{ type: 'pong' }`.
 */
export type ClientMessage =
  | { type: 'subscribe'; all: true; after_event_id?: number }
  | { type: 'subscribe'; job_ids: string[]; last_seq?: Record<string, number> }
  | { type: 'unsubscribe'; job_ids?: string[] }
  | { type: 'ping' };

/** Server → client control messages. */
export type ServerControlMessage =
  | { type: 'welcome'; user: string; server_time: string }
  | { type: 'subscribed'; all: boolean; job_ids: string[]; replayed: number }
  | { type: 'unsubscribed'; job_ids: string[] | 'all' }
  | { type: 'pong'; server_time: string }
  | { type: 'error'; message: string };

export function toJobUpdate(e: TrainingJobEvent): JobUpdateMessage {
  return {
    type: 'job_update',
    event: e.type,
    job_id: e.job_id,
    seq: e.seq,
    event_id: e.event_id,
    status: e.status,
    progress_percent: e.progress_percent,
    current_epoch: e.current_epoch,
    total_epochs: e.total_epochs,
    step: e.current_step,
    total_steps: e.total_steps,
    loss: e.metrics.loss,
    lr: e.metrics.lr,
    eta_seconds: e.metrics.eta_seconds,
    eval_loss: e.metrics.eval_loss,
    checkpoint: e.checkpoint,
    error: e.error,
    timestamp: e.occurred_at,
  };
}
