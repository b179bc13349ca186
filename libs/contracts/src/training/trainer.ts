/**
 * Trainer plug-in contract between the training worker (apps/training-worker) and trainer implementations
 * (the engine issue). A runner is registered per trainer_type in the worker:
 *
 *   import { registerTrainer } from '@clara/training-worker';
 *   registerTrainer('lora', { async run(job, ctx) { ...; ctx.report({ kind: 'progress', ... }); return { adapterDir } } });
 *
 * run() must keep the worker's event loop free (do the numeric work in a worker thread / child process),
 * call ctx.shouldStop() at every step boundary and return `{ stopped: true }` after saving a checkpoint when
 * it says so, and stop promptly when ctx.signal aborts (lease lost or worker shutting down).
 */
import type { TrainerType } from './job.js';

export interface TrainerJob {
  id: string;
  trainerType: TrainerType;
  baseModel: string | null;
  /** As given by the client: a dataset version id or a JSONL path relative to CLARA_DATA_DIR. */
  dataset: string | null;
  /** Absolute JSONL path when `dataset` is a path (already checked to be inside the data directory). */
  datasetPath: string | null;
  /** Absolute path when the job names a config file (inside the data directory). */
  configPath: string | null;
  /** Inline config object from the request (or null). */
  config: Record<string, unknown> | null;
  hyperparameters: Record<string, unknown>;
  /** 1 on the first run, 2+ when re-run after a worker died. */
  attempt: number;
}

export type TrainerReport =
  | {
      kind: 'progress';
      step: number;
      totalSteps: number;
      epoch?: number;
      totalEpochs?: number;
      loss?: number;
      lr?: number;
      gradNorm?: number;
      tokensPerSec?: number;
      etaSec?: number;
    }
  | { kind: 'eval'; step: number; evalLoss: number; metrics?: Record<string, number> }
  | { kind: 'checkpoint'; step: number; dir: string };

export interface TrainerContext {
  /** Private directory of this job: $CLARA_DATA_DIR/jobs/<jobId> (exists). */
  jobDir: string;
  dataDir: string;
  modelsDir: string;
  /** Last checkpoint directory of an earlier attempt, when there is one. */
  resumeFrom?: string;
  report(report: TrainerReport): void;
  /** True once the job was cancelled: save a checkpoint, return { stopped: true }. */
  shouldStop(): boolean;
  /** Aborted when the worker lost the lease or shuts down: stop at once. */
  signal: AbortSignal;
  log(message: string, fields?: Record<string, unknown>): void;
}

export interface TrainerResult {
  /** True when the run ended early because shouldStop() said so. */
  stopped?: boolean;
  /** Directory of the trained adapter (PEFT layout) — registered in the adapter registry. */
  adapterDir?: string;
  finalLoss?: number;
  evalLoss?: number;
  steps?: number;
  metrics?: Record<string, number>;
  /** Registry name for the adapter (a continued training keeps its parent's name, so it becomes a new version). */
  adapterName?: string;
  /** Registry id of the adapter this one continued from (lineage). */
  parentAdapterId?: string;
}

export interface TrainerRunner {
  run(job: TrainerJob, ctx: TrainerContext): Promise<TrainerResult>;
}
