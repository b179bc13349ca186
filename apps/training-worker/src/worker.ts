/**
 * TrainingWorker: claims jobs from PostgreSQL (priority desc, created asc, FOR UPDATE SKIP LOCKED), holds a
 * lease renewed by heartbeat, runs the registered trainer and records progress / checkpoints / the result
 * through the transactional outbox. Woken by NATS (Subjects.trainingQueueWake) and by a slow sweep that
 * also requeues jobs whose worker died (expired lease).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  Subjects,
  type AdapterRegistryEventPayload,
  type TrainerContext,
  type TrainerJob,
  type TrainerReport,
  type TrainerResult,
  type TrainingJobView,
} from '@clara/contracts';
import type { TrainingJobRepository } from '@clara/data-access';
import { isDatabaseUnavailable, type Logger, type MessageBus, type Subscription } from '@clara/platform';
import { getTrainer, registeredTrainerTypes } from './trainers.js';
import { resolveJobPath } from './paths.js';

export interface TrainingWorkerOptions {
  workerId: string;
  maxConcurrentJobs: number;
  leaseMs: number;
  sweepIntervalMs: number;
  progressIntervalMs: number;
  dataDir: string;
  modelsDir: string;
}

interface Running {
  job: TrainingJobView;
  stop: boolean;
  abort: AbortController;
  done: Promise<void>;
}

export class TrainingWorker {
  private readonly running = new Map<string, Running>();
  private readonly subs: Subscription[] = [];
  private sweepTimer?: NodeJS.Timeout;
  private stopping = false;
  private filling?: Promise<void>;
  private refill = false;

  constructor(
    private readonly jobs: TrainingJobRepository,
    private readonly bus: MessageBus,
    private readonly options: TrainingWorkerOptions,
    private readonly logger: Logger,
  ) {}

  get id() {
    return this.options.workerId;
  }

  get runningJobIds(): string[] {
    return [...this.running.keys()];
  }

  async start() {
    this.subs.push(await this.bus.subscribe(Subjects.trainingQueueWake, () => this.fill()));
    this.subs.push(
      await this.bus.subscribe<{ job_id: string }>(Subjects.trainingJobCancel('*'), (m) => {
        const r = this.running.get(m.subject.split('.')[3]);
        if (r) r.stop = true;
      }),
    );
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweepTimer.unref();
    this.logger.info('worker started', {
      worker_id: this.id,
      max_concurrent_jobs: this.options.maxConcurrentJobs,
      trainers: registeredTrainerTypes(),
    });
    await this.sweep();
  }

  /** Requeue expired leases, then claim what fits. */
  async sweep() {
    if (this.stopping) return;
    try {
      const expired = await this.jobs.requeueExpired(100, this.runningJobIds);
      for (const e of expired) this.logger.warn(`job ${e.id}: lease expired → ${e.outcome}`);
    } catch (err) {
      this.logger.warn('sweep failed', { err: err as Error });
    }
    this.fill();
  }

  /** Claims jobs until the worker is full or the queue is empty (coalesces concurrent calls). */
  fill() {
    if (this.stopping) return;
    if (this.filling) {
      this.refill = true;
      return;
    }
    this.filling = (async () => {
      // Yield first: the finally below must run after this.filling is assigned, even when there is nothing to do.
      await Promise.resolve();
      try {
        do {
          this.refill = false;
          while (!this.stopping && this.running.size < this.options.maxConcurrentJobs) {
            const claimed = await this.jobs.claimNext(this.id, this.options.leaseMs);
            if (!claimed) break;
            this.launch(claimed.job, claimed.resumeFrom);
          }
        } while (this.refill && !this.stopping);
      } catch (err) {
        this.logger.warn('claiming failed; the sweep retries', { err: err as Error });
      } finally {
        this.filling = undefined;
      }
    })();
  }

  private launch(job: TrainingJobView, resumeFrom: string | null) {
    const r: Running = { job, stop: job.status === 'cancelling', abort: new AbortController(), done: Promise.resolve() };
    this.running.set(job.job_id, r);
    r.done = this.execute(r, resumeFrom)
      .catch((err) => this.logger.error(`job ${job.job_id}: worker error`, { err: err as Error }))
      .finally(() => {
        this.running.delete(job.job_id);
        this.fill();
      });
  }

  private async execute(r: Running, resumeFrom: string | null) {
    const { job } = r;
    const log = this.logger.child(job.job_id.slice(0, 8));
    const trainer = getTrainer(job.trainer_type);
    if (!trainer) {
      const types = registeredTrainerTypes();
      await this.jobs.fail(job.job_id, this.id, `no trainer is available for trainer_type "${job.trainer_type}" on worker ${this.id}` +
        ` (registered: ${types.length ? types.join(', ') : 'none'})`);
      return;
    }
    let trainerJob: TrainerJob;
    try {
      trainerJob = {
        id: job.job_id,
        trainerType: job.trainer_type,
        baseModel: job.base_model,
        dataset: job.dataset,
        datasetPath: job.dataset && job.dataset.toLowerCase().endsWith('.jsonl') ? resolveJobPath(this.options.dataDir, job.dataset, 'dataset') : null,
        configPath: job.config_path ? resolveJobPath(this.options.dataDir, job.config_path, 'config_path') : null,
        config: job.config,
        hyperparameters: job.hyperparameters,
        attempt: job.attempts,
      };
    } catch (err) {
      await this.jobs.fail(job.job_id, this.id, (err as Error).message);
      return;
    }
    const jobDir = resolve(this.options.dataDir, 'jobs', job.job_id);
    mkdirSync(join(jobDir, 'checkpoints'), { recursive: true });

    let leaseLost = false;
    const heartbeat = setInterval(() => {
      this.jobs.heartbeat(job.job_id, this.id, this.options.leaseMs).then(
        (status) => {
          if (status === null) {
            leaseLost = true;
            r.abort.abort(new Error('lease lost'));
          } else if (status === 'cancelling') r.stop = true;
        },
        (err) => log.warn('heartbeat failed', { err: err as Error }),
      );
    }, Math.max(100, Math.floor(this.options.leaseMs / 3)));

    const reporter = new ReportWriter(this.jobs, job.job_id, this.id, this.options.progressIntervalMs, log, () => this.stopping);
    const ctx: TrainerContext = {
      jobDir,
      dataDir: this.options.dataDir,
      modelsDir: this.options.modelsDir,
      resumeFrom: resumeFrom ?? undefined,
      report: (rep) => reporter.report(rep),
      shouldStop: () => r.stop || r.abort.signal.aborted,
      signal: r.abort.signal,
      log: (message, fields) => log.info(message, fields),
    };
    log.info('running', { trainer_type: job.trainer_type, attempt: job.attempts, resume_from: resumeFrom });
    let result: TrainerResult | undefined;
    let error: unknown;
    try {
      result = await trainer.run(trainerJob, ctx);
    } catch (err) {
      error = err;
    } finally {
      clearInterval(heartbeat);
    }
    await reporter.flush();
    if (leaseLost) {
      log.warn('lease lost: another worker or the sweep owns this job now');
      return;
    }
    if (this.stopping && r.abort.signal.aborted) return; // shutdown: stop() releases the job
    if (error) {
      if (r.stop) await this.persist(() => this.jobs.markCancelled(job.job_id, this.id), log);
      else await this.persist(() => this.jobs.fail(job.job_id, this.id, `${(error as Error)?.message ?? String(error)}`.slice(0, 4000)), log);
      return;
    }
    if (result?.stopped || r.stop) {
      await this.persist(() => this.jobs.markCancelled(job.job_id, this.id), log);
      return;
    }
    const summary: Record<string, unknown> = {
      adapter_dir: result?.adapterDir ?? null,
      final_loss: result?.finalLoss ?? null,
      eval_loss: result?.evalLoss ?? null,
      steps: result?.steps ?? null,
      metrics: result?.metrics ?? {},
    };
    const adapter = result?.adapterDir
      ? {
          name: result.adapterName ?? (job.config?.adapter_name as string | undefined) ?? undefined,
          parentId: result.parentAdapterId ?? null,
          baseModel: job.base_model ?? 'unknown',
          datasetRef: job.dataset,
          path: result.adapterDir,
          metrics: { final_loss: result.finalLoss, eval_loss: result.evalLoss, steps: result.steps, ...result.metrics },
        }
      : undefined;
    const done = await this.persist(() => this.jobs.complete(job.job_id, this.id, summary, adapter), log);
    if (!done.ok) log.warn('finished but no longer held the job; result not recorded');
    else {
      log.info('completed', { adapter_id: done.adapterId });
      // Registry event for serving and other consumers (subject and payload in @clara/contracts).
      // The name and version are the registry's (a default name is resolved there), so serving can hot-swap on it.
      if (done.adapter && adapter) {
        const event: AdapterRegistryEventPayload = { id: done.adapter.id, name: done.adapter.name, version: done.adapter.version, path: adapter.path, baseModel: adapter.baseModel };
        await this.bus
          .publish(Subjects.adapterEvent(done.adapter.id, 'registered'), event)
          .catch((err: Error) => log.warn('could not publish the adapter registered event', { err }));
      }
    }
  }

  /**
   * A job's final write waits out a database outage (PostgreSQL restarting), so a finished run is not thrown away
   * and re-run; the sweep leaves this worker's own jobs alone meanwhile. Other errors, and shutdown, end the wait.
   */
  private persist<T>(write: () => Promise<T>, log: Logger): Promise<T> {
    return untilDatabaseBack(write, () => this.stopping, log);
  }

  /** Stops claiming; running jobs are aborted and put back in the queue (their attempt is not counted). */
  async stop(timeoutMs = 10_000) {
    this.stopping = true;
    clearInterval(this.sweepTimer);
    for (const s of this.subs.splice(0)) await s.unsubscribe().catch(() => undefined);
    await this.filling;
    const running = [...this.running.values()];
    for (const r of running) r.abort.abort(new Error('worker shutting down'));
    await Promise.race([Promise.all(running.map((r) => r.done)), new Promise((res) => setTimeout(res, timeoutMs))]);
    for (const r of running) {
      await this.jobs.release(r.job.job_id, this.id, `worker ${this.id} shut down; requeued`).catch(() => undefined);
    }
  }
}

/** Runs `write`, retrying with backoff while the database is unavailable, until it succeeds or `giveUp()`. */
async function untilDatabaseBack<T>(write: () => Promise<T>, giveUp: () => boolean, log: Logger): Promise<T> {
  for (let delay = 250; ; delay = Math.min(delay * 2, 4000)) {
    try {
      return await write();
    } catch (err) {
      if (giveUp() || !isDatabaseUnavailable(err)) throw err;
      if (delay === 250) log.warn('database unavailable; will retry the write', { err: err as Error });
      await new Promise((res) => setTimeout(res, delay));
    }
  }
}

/** Writes reports in order (waiting out a database outage, so none is lost); progress is coalesced to one write per interval (the newest wins). */
class ReportWriter {
  private chain = Promise.resolve();
  private latest?: Extract<TrainerReport, { kind: 'progress' }>;
  private timer?: NodeJS.Timeout;
  private lastWrite = 0;

  constructor(
    private readonly jobs: TrainingJobRepository,
    private readonly jobId: string,
    private readonly workerId: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly giveUp: () => boolean,
  ) {}

  report(rep: TrainerReport) {
    if (rep.kind === 'progress') {
      this.latest = rep;
      const wait = this.lastWrite + this.intervalMs - Date.now();
      if (wait <= 0) this.writeProgress();
      else this.timer ??= setTimeout(() => this.writeProgress(), wait);
      return;
    }
    // Progress before a checkpoint/eval goes first, so the event order matches the training order.
    this.writeProgress();
    this.enqueue(() =>
      rep.kind === 'eval'
        ? this.jobs.recordEval(this.jobId, this.workerId, rep.step, { eval_loss: rep.evalLoss, ...(rep.metrics ?? {}) })
        : this.jobs.recordCheckpoint(this.jobId, this.workerId, rep.step, rep.dir),
    );
  }

  private writeProgress() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.latest;
    if (!p) return;
    this.latest = undefined;
    this.lastWrite = Date.now();
    this.enqueue(() =>
      this.jobs.recordProgress(this.jobId, this.workerId, {
        step: p.step,
        totalSteps: p.totalSteps,
        epoch: p.epoch,
        totalEpochs: p.totalEpochs,
        metrics: { loss: p.loss, lr: p.lr, grad_norm: p.gradNorm, tokens_per_sec: p.tokensPerSec, eta_seconds: p.etaSec } as Record<string, number>,
      }),
    );
  }

  private enqueue(write: () => Promise<unknown>) {
    this.chain = this.chain.then(() => untilDatabaseBack(write, this.giveUp, this.log)).then(
      () => undefined,
      (err) => this.log.warn('could not record a report', { err: err as Error }),
    );
  }

  async flush() {
    this.writeProgress();
    await this.chain;
  }
}
