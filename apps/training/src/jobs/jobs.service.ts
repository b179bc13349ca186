/**
 * Use cases of the training jobs API. Thin controllers call these; all persistence goes through
 * TrainingJobRepository (mocked in jobs.service.spec.ts).
 */
import { createHash } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { Subjects, type TrainingJobEvent, type TrainingJobView } from '@clara/contracts';
import type { CreateTrainingJobDto, ListTrainingJobsQueryDto } from '@clara/contracts/training/dto';
import { InvalidCursorError, type TrainingJobRepository } from '@clara/data-access';
import type { MessageBus, Logger } from '@clara/platform';
import { PathError, isDatasetVersionId, resolveInsideDataDir } from './paths.js';

export const TRAINING_DEPS = Symbol('TRAINING_DEPS');

export interface TrainingDeps {
  jobs: TrainingJobRepository;
  bus: MessageBus;
  dataDir: string;
  logger: Logger;
  /** Trainer-specific create-time checks (engine: config keys, base model, parent adapter); throws 4xx. */
  validateJob?: (dto: CreateTrainingJobDto) => Promise<void>;
}

export interface CreateJobResponse {
  success: true;
  job_id: string;
  status: string;
  message: string;
  data: {
    trainer_type: string;
    priority: number;
    tags: string[];
    base_model: string | null;
    dataset: string | null;
    created_by: string;
    created_at: string;
  };
}

@Injectable()
export class JobsService {
  /** The wake-up about to be sent (highest priority job created since the last one). */
  private wake?: { job_id: string; priority: number };

  constructor(@Inject(TRAINING_DEPS) private readonly deps: TrainingDeps) {}

  /**
   * Wakes idle workers (they also sweep periodically, so a lost wake-up only delays the start). Workers claim from
   * PostgreSQL whatever the message says, so the creates of one batch (resolved together) share one message.
   */
  private wakeWorkers(job: { job_id: string; priority: number }) {
    const scheduled = this.wake !== undefined;
    if (!this.wake || job.priority > this.wake.priority) this.wake = { job_id: job.job_id, priority: job.priority };
    if (scheduled) return;
    queueMicrotask(() => {
      const wake = this.wake!;
      this.wake = undefined;
      this.deps.bus.publish(Subjects.trainingQueueWake, wake).catch((err) => this.deps.logger.warn('queue wake-up not sent', { err: err as Error }));
    });
  }

  async create(dto: CreateTrainingJobDto, user: string, idempotencyKey?: string): Promise<{ replayed: boolean; body: CreateJobResponse }> {
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
      throw new BadRequestException('Idempotency-Key header must be 1-200 visible ASCII characters');
    }
    if (!dto.config_path && !dto.config && !(dto.base_model && dto.dataset)) {
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'give config_path, an inline config, or base_model together with dataset',
        errors: [{ field: 'config_path', messages: ['config_path, config or base_model + dataset is required'] }],
      });
    }
    try {
      if (dto.config_path) resolveInsideDataDir(this.deps.dataDir, dto.config_path, 'config_path', { mustExist: true, extensions: ['.yaml', '.yml', '.json'] });
      if (dto.dataset && !isDatasetVersionId(dto.dataset)) {
        resolveInsideDataDir(this.deps.dataDir, dto.dataset, 'dataset', { mustExist: true, extensions: ['.jsonl'] });
      }
    } catch (err) {
      if (err instanceof PathError) {
        throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: err.message, errors: [{ field: err.field, messages: [err.message] }] });
      }
      throw err;
    }
    await this.deps.validateJob?.(dto);
    const input = {
      trainerType: dto.trainer_type,
      priority: dto.priority ?? 5,
      tags: [...new Set(dto.tags ?? [])],
      baseModel: dto.base_model ?? null,
      dataset: dto.dataset ?? null,
      configPath: dto.config_path ?? null,
      config: dto.config ?? null,
      hyperparameters: { ...(dto.hyperparameters ?? {}) } as Record<string, unknown>,
      createdBy: user,
      maxAttempts: dto.max_attempts ?? 3,
    };
    const requestHash = idempotencyKey ? hashRequest(input) : undefined;
    const outcome = await this.deps.jobs.create(input, { idempotencyKey, requestHash });
    if (outcome.kind === 'key_conflict') {
      throw new UnprocessableEntityException(`Idempotency-Key was already used for job ${outcome.job.job_id} with a different request body`);
    }
    if (outcome.kind === 'created') this.wakeWorkers(outcome.job);
    const job = outcome.job;
    return {
      replayed: outcome.kind === 'replayed',
      body: {
        success: true,
        job_id: job.job_id,
        status: job.status,
        message: `Training job created: ${job.job_id}`,
        data: {
          trainer_type: job.trainer_type,
          priority: job.priority,
          tags: job.tags,
          base_model: job.base_model,
          dataset: job.dataset,
          created_by: job.created_by,
          created_at: job.created_at,
        },
      },
    };
  }

  async get(id: string): Promise<TrainingJobView> {
    const job = await this.deps.jobs.findById(id);
    if (!job) throw new NotFoundException(`training job ${id} not found`);
    return job;
  }

  async list(q: ListTrainingJobsQueryDto) {
    try {
      const page = await this.deps.jobs.list({ status: q.status, tag: q.tag, createdBy: q.created_by, limit: q.limit ?? 50, cursor: q.cursor });
      return { jobs: page.jobs, count: page.jobs.length, next_cursor: page.nextCursor };
    } catch (err) {
      if (err instanceof InvalidCursorError) {
        throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: err.message, errors: [{ field: 'cursor', messages: [err.message] }] });
      }
      throw err;
    }
  }

  async cancel(id: string, user: string) {
    const outcome = await this.deps.jobs.requestCancel(id, user);
    switch (outcome.kind) {
      case 'not_found':
        throw new NotFoundException(`training job ${id} not found`);
      case 'finished':
        throw new ConflictException(`training job ${id} already finished with status ${outcome.job.status}`);
      case 'cancelled':
        return { success: true, job_id: id, status: 'cancelled', message: 'job cancelled before it started' };
      case 'cancelling':
        // Tell the worker now; it also sees the status at its next heartbeat.
        this.deps.bus.publish(Subjects.trainingJobCancel(id), { job_id: id }).catch(() => undefined);
        return {
          success: true,
          job_id: id,
          status: 'cancelling',
          message: 'the worker stops the job at the next step boundary and keeps its last checkpoint',
        };
    }
  }

  async events(id: string, after: number, limit: number): Promise<{ job_id: string; events: TrainingJobEvent[]; last_seq: number }> {
    const job = await this.get(id);
    const events = await this.deps.jobs.events(id, after, limit);
    return { job_id: id, events, last_seq: job.last_seq };
  }
}

function hashRequest(input: object): string {
  return createHash('sha256').update(stableJson(input)).digest('hex');
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}
