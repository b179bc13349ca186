/**
 * TrainingJobRepository: every read and write of training jobs, their event history (transactional outbox)
 * and the queue protocol (claim with FOR UPDATE SKIP LOCKED, lease + heartbeat, requeue of expired leases).
 *
 *   const jobs = new TrainingJobRepository(dataSource, { onEventsWritten: () => relay.kick() });
 *   const { job, created } = await jobs.create(input, { idempotencyKey, requestHash });
 *   const claimed = await jobs.claimNext('worker-1', 30_000);
 *
 * Every state change bumps training_jobs.last_seq and inserts the matching event row IN THE SAME
 * TRANSACTION, so an event exists if and only if its change committed.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import {
  TrainingJobEventType,
  type JobMetrics,
  type JobStatus,
  type TrainerType,
  type TrainingJobEvent,
  type TrainingJobView,
} from '@clara/contracts';
import { CoalescingQueue } from './coalescing-queue.js';

export interface NewTrainingJob {
  trainerType: TrainerType;
  priority: number;
  tags: string[];
  baseModel: string | null;
  dataset: string | null;
  configPath: string | null;
  config: Record<string, unknown> | null;
  hyperparameters: Record<string, unknown>;
  createdBy: string;
  maxAttempts: number;
}

export type CreateOutcome =
  | { kind: 'created'; job: TrainingJobView }
  | { kind: 'replayed'; job: TrainingJobView }
  /** Same Idempotency-Key, different request body. */
  | { kind: 'key_conflict'; job: TrainingJobView };

export type CancelOutcome =
  | { kind: 'not_found' }
  | { kind: 'cancelled'; job: TrainingJobView }
  | { kind: 'cancelling'; job: TrainingJobView; alreadyRequested: boolean }
  | { kind: 'finished'; job: TrainingJobView };

export interface ListFilter {
  status?: JobStatus;
  tag?: string;
  createdBy?: string;
  limit: number;
  cursor?: string;
}

export interface ClaimedJob {
  job: TrainingJobView;
  /** Checkpoint left by an earlier attempt (resume from it). */
  resumeFrom: string | null;
}

export interface ProgressUpdate {
  step: number;
  totalSteps: number;
  epoch?: number;
  totalEpochs?: number;
  metrics: JobMetrics;
}

export interface RegisteredAdapterInput {
  name?: string;
  baseModel: string;
  datasetRef: string | null;
  path: string;
  parentId?: string | null;
  metrics: Record<string, unknown>;
}

/** The registry record complete() created: id, resolved name and version. */
export interface RegisteredAdapter {
  id: string;
  name: string;
  version: number;
}

export class InvalidCursorError extends Error {
  constructor() {
    super('cursor is not a cursor this API issued');
    this.name = 'InvalidCursorError';
  }
}

/** A training_jobs row as the pg driver returns it (numeric comes back as a string, timestamps as Date). */
interface JobRow {
  id: string;
  status: JobStatus;
  trainer_type: TrainerType;
  priority: number;
  tags: string[] | null;
  base_model: string | null;
  dataset: string | null;
  config_path: string | null;
  config: Record<string, unknown> | null;
  hyperparameters: Record<string, unknown> | null;
  created_by: string;
  created_at: Date | string;
  updated_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
  progress_percent: string | number;
  current_epoch: number | null;
  total_epochs: number | null;
  current_step: number | null;
  total_steps: number | null;
  metrics: JobMetrics | null;
  attempts: number;
  max_attempts: number;
  last_checkpoint: string | null;
  adapter_id: string | null;
  error: string | null;
  last_seq: number;
}

/** A training_job_events row (bigserial id comes back as a string). */
interface EventRow {
  id: string | number;
  job_id: string;
  seq: string | number;
  type: TrainingJobEventType;
  payload: Record<string, unknown> | null;
  created_at: Date | string;
}
/** A value spliced into SQL as-is (never user input). */
class Sql {
  constructor(readonly text: string) {}
}
const sql = (text: string) => new Sql(text);
const ACTIVE = `status IN ('running','cancelling')`;
const CREATED_EVENT_PAYLOAD = {
  status: 'pending', progress_percent: 0, current_epoch: null, total_epochs: null, current_step: null, total_steps: null,
  metrics: {}, message: 'job queued',
};

/** Creates waiting for the next batched INSERT (see createBatched). */
interface PendingCreate {
  input: NewTrainingJob;
  resolve: (outcome: CreateOutcome) => void;
  reject: (err: unknown) => void;
}
interface PendingRead {
  id: string;
  resolve: (job: TrainingJobView | null) => void;
  reject: (err: unknown) => void;
}
const READ_BATCH_MAX = 256;
const READ_BATCHES_IN_FLIGHT = 4;
/** Only well-formed ids are batched: a malformed one keeps its own query (and its own error) as before. */
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CREATE_BATCH_MAX = 128;
const CREATE_BATCHES_IN_FLIGHT = 4;

export class TrainingJobRepository {
  private readonly creates = new CoalescingQueue<PendingCreate>(CREATE_BATCH_MAX, CREATE_BATCHES_IN_FLIGHT, (b) => this.writeCreateBatch(b));
  private readonly reads = new CoalescingQueue<PendingRead>(READ_BATCH_MAX, READ_BATCHES_IN_FLIGHT, (b) => this.readBatch(b));

  constructor(
    private readonly dataSource: DataSource,
    private readonly hooks: { onEventsWritten?: () => void } = {},
  ) {}

  // ---- API side -------------------------------------------------------------------------------------

  async create(input: NewTrainingJob, options: { idempotencyKey?: string; requestHash?: string } = {}): Promise<CreateOutcome> {
    if (options.idempotencyKey === undefined) return this.createBatched(input);
    return this.createOne(input, options);
  }

  /**
   * Creates without an Idempotency-Key cannot conflict, so concurrent ones are written together: one multi-row
   * statement (jobs + their 'created' events, committed atomically before any caller resolves), instead of one
   * round trip and one commit each. Under load the per-query socket writes and commits were the main cost.
   * Rows keep arrival order (created_at = clock_timestamp() per row, in order) so the queue stays FIFO per priority.
   * If a batch fails, each job is retried alone, so one bad row fails only its own request, as before.
   */
  private createBatched(input: NewTrainingJob): Promise<CreateOutcome> {
    return new Promise((resolve, reject) => this.creates.push({ input, resolve, reject }));
  }

  private async writeCreateBatch(batch: PendingCreate[]): Promise<void> {
    if (batch.length === 1) {
      const [one] = batch;
      await this.createOne(one.input, {}).then(one.resolve, one.reject);
      return;
    }
    const rows = batch.map(({ input }, ord) => ({
      ord,
      id: randomUUID(),
      trainer_type: input.trainerType,
      priority: input.priority,
      tags: input.tags,
      base_model: input.baseModel,
      dataset: input.dataset,
      config_path: input.configPath,
      config: input.config,
      hyperparameters: input.hyperparameters,
      created_by: input.createdBy,
      max_attempts: input.maxAttempts,
    }));
    let inserted: JobRow[];
    try {
      inserted = await this.dataSource.query(
        `WITH input AS (
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, id uuid, trainer_type text, priority int, tags jsonb,
             base_model text, dataset text, config_path text, config jsonb, hyperparameters jsonb, created_by text, max_attempts int)),
         job AS (
           INSERT INTO training_jobs (id, status, trainer_type, priority, tags, base_model, dataset, config_path, config,
             hyperparameters, created_by, idempotency_key, request_hash, max_attempts, last_seq, created_at)
           SELECT id, 'pending', trainer_type, priority, ARRAY(SELECT jsonb_array_elements_text(tags)), base_model, dataset,
             config_path, config, hyperparameters, created_by, NULL, NULL, max_attempts, 1, clock_timestamp()
           FROM input ORDER BY ord
           RETURNING *),
         event AS (
           INSERT INTO training_job_events (job_id, seq, type, payload, created_at)
           SELECT id, 1, '${TrainingJobEventType.Created}', $2::jsonb, created_at FROM job ORDER BY created_at RETURNING id)
         SELECT job.* FROM job`,
        [JSON.stringify(rows), JSON.stringify(CREATED_EVENT_PAYLOAD)],
      );
    } catch {
      // Something in the batch was refused: write each alone, in arrival order, so only the bad one fails.
      for (const one of batch) await this.createOne(one.input, {}).then(one.resolve, one.reject);
      return;
    }
    const byId = new Map(inserted.map((row) => [String(row.id), row]));
    if (byId.size !== batch.length) {
      const err = new Error(`batched create wrote ${byId.size} of ${batch.length} jobs`);
      for (const one of batch) one.reject(err);
      return;
    }
    this.hooks.onEventsWritten?.();
    batch.forEach((one, i) => one.resolve({ kind: 'created', job: toView(byId.get(rows[i].id)!) }));
  }

  private async createOne(input: NewTrainingJob, options: { idempotencyKey?: string; requestHash?: string }): Promise<CreateOutcome> {
    const id = randomUUID();
    // The job row and its first event in ONE statement (atomic without an explicit transaction: one round trip).
    const payload = CREATED_EVENT_PAYLOAD;
    const inserted: JobRow[] = await this.dataSource.query(
      `WITH job AS (
         INSERT INTO training_jobs (id, status, trainer_type, priority, tags, base_model, dataset, config_path, config,
           hyperparameters, created_by, idempotency_key, request_hash, max_attempts, last_seq)
         VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1)
         ON CONFLICT (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING *),
       event AS (
         INSERT INTO training_job_events (job_id, seq, type, payload, created_at)
         SELECT id, 1, '${TrainingJobEventType.Created}', $14::jsonb, created_at FROM job RETURNING id)
       SELECT job.* FROM job, event`,
      [
        id,
        input.trainerType,
        input.priority,
        input.tags,
        input.baseModel,
        input.dataset,
        input.configPath,
        input.config === null ? null : JSON.stringify(input.config),
        JSON.stringify(input.hyperparameters),
        input.createdBy,
        options.idempotencyKey ?? null,
        options.requestHash ?? null,
        input.maxAttempts,
        JSON.stringify(payload),
      ],
    );
    if (inserted.length > 0) {
      this.hooks.onEventsWritten?.();
      return { kind: 'created', job: toView(inserted[0]) };
    }
    const [existing] = await this.dataSource.query(`SELECT * FROM training_jobs WHERE created_by = $1 AND idempotency_key = $2`, [
      input.createdBy,
      options.idempotencyKey,
    ]);
    const job = toView(existing);
    return existing.request_hash === (options.requestHash ?? null) ? { kind: 'replayed', job } : { kind: 'key_conflict', job };
  }

  /**
   * Concurrent look-ups are answered by one `id = ANY(...)` query (a read issued after a write returns is in a
   * later query, so it sees that write); one query per request was the main cost of GET under load.
   */
  findById(id: string): Promise<TrainingJobView | null> {
    if (!UUID_TEXT.test(id)) return this.findOne(id);
    return new Promise((resolve, reject) => this.reads.push({ id, resolve, reject }));
  }

  private async findOne(id: string): Promise<TrainingJobView | null> {
    const [row] = await this.dataSource.query(`SELECT * FROM training_jobs WHERE id = $1`, [id]);
    return row ? toView(row) : null;
  }

  private async readBatch(batch: PendingRead[]): Promise<void> {
    try {
      const ids = [...new Set(batch.map((r) => r.id.toLowerCase()))];
      const rows: JobRow[] = await this.dataSource.query(`SELECT * FROM training_jobs WHERE id = ANY($1::uuid[])`, [ids]);
      const byId = new Map(rows.map((row) => [String(row.id).toLowerCase(), row]));
      for (const r of batch) {
        const row = byId.get(r.id.toLowerCase());
        r.resolve(row ? toView(row) : null);
      }
    } catch (err) {
      for (const r of batch) r.reject(err);
    }
  }

  /** Newest first; `next_cursor` is null on the last page. */
  async list(filter: ListFilter): Promise<{ jobs: TrainingJobView[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    if (filter.tag) where.push(`tags @> ARRAY[$${params.push(filter.tag)}]::text[]`);
    if (filter.createdBy) where.push(`created_by = $${params.push(filter.createdBy)}`);
    if (filter.cursor) {
      const [ts, id] = decodeCursor(filter.cursor);
      where.push(`(created_at, id) < ($${params.push(ts)}::timestamptz, $${params.push(id)}::uuid)`);
    }
    const limit = filter.limit;
    const rows: Array<JobRow & { created_at_text: string }> = await this.dataSource.query(
      `SELECT *, created_at::text AS created_at_text FROM training_jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      jobs: page.map(toView),
      nextCursor: rows.length > limit && last ? encodeCursor(last.created_at_text, last.id) : null,
    };
  }

  /** Events of one job with seq > after, oldest first. */
  async events(jobId: string, after: number, limit: number): Promise<TrainingJobEvent[]> {
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT * FROM training_job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [jobId, after, limit],
    );
    return rows.map(toEvent);
  }

  /** Pending → cancelled at once; running → cancelling (the worker stops at the next step); finished → finished. */
  async requestCancel(id: string, by: string): Promise<CancelOutcome> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const outcome = await this.dataSource.transaction(async (m): Promise<CancelOutcome | null> => {
        const [row] = await m.query(`SELECT status FROM training_jobs WHERE id = $1 FOR UPDATE`, [id]);
        if (!row) return { kind: 'not_found' };
        const message = `cancelled by ${by}`;
        if (row.status === 'pending') {
          const r = await this.transition(m, `id = $1 AND status = 'pending'`, [id], {
            status: 'cancelled', finished_at: sql('now()'), error: null,
          }, TrainingJobEventType.Cancelled, { message });
          return r ? { kind: 'cancelled', job: toView(r.row) } : null;
        }
        if (row.status === 'running') {
          const r = await this.transition(m, `id = $1 AND status = 'running'`, [id], { status: 'cancelling' }, TrainingJobEventType.Cancelling, {
            message: `cancellation requested by ${by}`,
          });
          return r ? { kind: 'cancelling', job: toView(r.row), alreadyRequested: false } : null;
        }
        const [current] = await m.query(`SELECT * FROM training_jobs WHERE id = $1`, [id]);
        if (row.status === 'cancelling') return { kind: 'cancelling', job: toView(current), alreadyRequested: true };
        return { kind: 'finished', job: toView(current) };
      });
      if (outcome) {
        if (outcome.kind === 'cancelled' || (outcome.kind === 'cancelling' && !outcome.alreadyRequested)) this.hooks.onEventsWritten?.();
        return outcome;
      }
    }
    throw new Error(`job ${id} kept changing state while cancelling`);
  }

  // ---- WebSocket replay -----------------------------------------------------------------------------

  /** Id of the newest event the relay has published (events at or below it are visible and on the bus). */
  async publishedCursor(): Promise<number> {
    const [row] = await this.dataSource.query(`SELECT last_event_id FROM training_outbox_cursor WHERE id = 1`);
    return Number(row?.last_event_id ?? 0);
  }

  /** Published events after a global cursor (all jobs, or only `jobIds`), in id order. */
  async eventsAfterId(afterId: number, upToId: number, jobIds: string[] | null, limit = 1000): Promise<TrainingJobEvent[]> {
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT * FROM training_job_events WHERE id > $1 AND id <= $2 ${jobIds ? 'AND job_id = ANY($4::uuid[])' : ''}
       ORDER BY id LIMIT $3`,
      jobIds ? [afterId, upToId, limit, jobIds] : [afterId, upToId, limit],
    );
    return rows.map(toEvent);
  }

  /** Published events of the given jobs after each job's seq, in id order. */
  async eventsAfterSeqs(lastSeqs: Record<string, number>, upToId: number, limit = 5000): Promise<TrainingJobEvent[]> {
    const ids = Object.keys(lastSeqs);
    if (ids.length === 0) return [];
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT e.* FROM training_job_events e
       JOIN unnest($1::uuid[], $2::int[]) AS c(job_id, after) ON e.job_id = c.job_id AND e.seq > c.after
       WHERE e.id <= $3 ORDER BY e.id LIMIT $4`,
      [ids, ids.map((i) => lastSeqs[i]), upToId, limit],
    );
    return rows.map(toEvent);
  }

  // ---- worker side ----------------------------------------------------------------------------------

  /** Claims the highest-priority, oldest pending job, or returns null. Safe with many workers. */
  async claimNext(workerId: string, leaseMs: number): Promise<ClaimedJob | null> {
    const claimed = await this.dataSource.transaction(async (m) => {
      const r = await this.transition(
        m,
        `id = (SELECT id FROM training_jobs WHERE status = 'pending' ORDER BY priority DESC, created_at ASC, id
               LIMIT 1 FOR UPDATE SKIP LOCKED)`,
        [],
        {
          status: 'running',
          lease_owner: workerId,
          lease_expires_at: sql(`now() + ${Math.round(leaseMs)} * interval '1 millisecond'`),
          attempts: sql('attempts + 1'),
          started_at: sql('coalesce(started_at, now())'),
          error: null,
        },
        TrainingJobEventType.Started,
        (row) => ({ worker_id: workerId, attempt: row.attempts, message: `attempt ${row.attempts} of ${row.max_attempts}` }),
      );
      return r ? { job: toView(r.row), resumeFrom: r.row.last_checkpoint as string | null } : null;
    });
    if (claimed) this.hooks.onEventsWritten?.();
    return claimed;
  }

  /** Renews the lease. Returns the job's status, or null when this worker no longer holds it. */
  async heartbeat(id: string, workerId: string, leaseMs: number): Promise<JobStatus | null> {
    const rows = updatedRows(
      await this.dataSource.query(
        `UPDATE training_jobs SET lease_expires_at = now() + $3 * interval '1 millisecond'
         WHERE id = $1 AND lease_owner = $2 AND ${ACTIVE} RETURNING status`,
        [id, workerId, Math.round(leaseMs)],
      ),
    );
    return rows[0]?.status ?? null;
  }

  async recordProgress(id: string, workerId: string, p: ProgressUpdate): Promise<boolean> {
    const percent =
      p.totalSteps > 0 ? (100 * p.step) / p.totalSteps : p.totalEpochs ? (100 * (p.epoch ?? 0)) / p.totalEpochs : 0;
    return this.workerTransition(id, workerId, {
      progress_percent: Math.min(100, Math.max(0, percent)),
      current_step: p.step,
      total_steps: p.totalSteps,
      current_epoch: p.epoch ?? null,
      total_epochs: p.totalEpochs ?? null,
      metrics: sql(`metrics || '${jsonLiteral(p.metrics)}'::jsonb`),
    }, TrainingJobEventType.Progress);
  }

  async recordEval(id: string, workerId: string, step: number, metrics: JobMetrics): Promise<boolean> {
    return this.workerTransition(id, workerId, { metrics: sql(`metrics || '${jsonLiteral(metrics)}'::jsonb`) }, TrainingJobEventType.Eval, {
      message: `eval at step ${step}`,
    });
  }

  async recordCheckpoint(id: string, workerId: string, step: number, dir: string): Promise<boolean> {
    return this.workerTransition(id, workerId, { last_checkpoint: dir }, TrainingJobEventType.Checkpoint, {
      checkpoint: dir,
      message: `checkpoint at step ${step}`,
    });
  }

  /**
   * Finishes a run; registers the adapter in the same transaction when one was produced. `adapter` is the
   * registered record's resolved name (the default `adapter-<job>` when none was asked for) and version.
   */
  async complete(
    id: string,
    workerId: string,
    result: Record<string, unknown>,
    adapter?: RegisteredAdapterInput,
  ): Promise<{ ok: boolean; adapterId: string | null; adapter?: RegisteredAdapter }> {
    let registered: RegisteredAdapter | undefined;
    const ok = await this.dataSource.transaction(async (m) => {
      const [owned] = await m.query(`SELECT id FROM training_jobs WHERE id = $1 AND lease_owner = $2 AND ${ACTIVE} FOR UPDATE`, [id, workerId]);
      if (!owned) return false;
      registered = adapter ? await insertAdapter(m, id, adapter) : undefined;
      const adapterId = registered?.id ?? null;
      const r = await this.transition(m, `id = $1 AND lease_owner = $2 AND ${ACTIVE}`, [id, workerId], {
        status: 'completed',
        progress_percent: 100,
        result: JSON.stringify(result),
        adapter_id: adapterId,
        finished_at: sql('now()'),
        lease_owner: null,
        lease_expires_at: null,
      }, TrainingJobEventType.Completed, { adapter_id: adapterId ?? undefined, message: 'training completed' });
      return !!r;
    });
    if (ok) this.hooks.onEventsWritten?.();
    return registered ? { ok, adapterId: registered.id, adapter: registered } : { ok, adapterId: null };
  }

  async fail(id: string, workerId: string, error: string): Promise<boolean> {
    return this.workerTransition(id, workerId, {
      status: 'failed', error, finished_at: sql('now()'), lease_owner: null, lease_expires_at: null,
    }, TrainingJobEventType.Failed, { error });
  }

  /** The worker stopped a cancelling job; its last checkpoint stays recorded. */
  async markCancelled(id: string, workerId: string): Promise<boolean> {
    return this.workerTransition(id, workerId, {
      status: 'cancelled', finished_at: sql('now()'), lease_owner: null, lease_expires_at: null,
    }, TrainingJobEventType.Cancelled, (row) => ({ checkpoint: row.last_checkpoint ?? undefined, message: 'stopped at a step boundary' }));
  }

  /** Graceful worker shutdown: back to the queue without counting the attempt. */
  async release(id: string, workerId: string, reason: string): Promise<boolean> {
    const released = await this.dataSource.transaction(async (m) => {
      const r = await this.transition(m, `id = $1 AND lease_owner = $2 AND status = 'running'`, [id, workerId], {
        status: 'pending', lease_owner: null, lease_expires_at: null, attempts: sql('greatest(attempts - 1, 0)'),
      }, TrainingJobEventType.Requeued, { message: reason });
      if (r) return true;
      // A cancelling job whose worker goes away is finished as cancelled.
      return !!(await this.transition(m, `id = $1 AND lease_owner = $2 AND status = 'cancelling'`, [id, workerId], {
        status: 'cancelled', finished_at: sql('now()'), lease_owner: null, lease_expires_at: null,
      }, TrainingJobEventType.Cancelled, { message: reason }));
    });
    if (released) this.hooks.onEventsWritten?.();
    return released;
  }

  /**
   * Jobs whose lease ran out (their worker died): back to pending, or failed once max_attempts runs were used;
   * a job that was being cancelled becomes cancelled. Returns what happened to each. `keepIds`: jobs the calling
   * worker is still running (their lease only ran out because the database was away; its heartbeat renews them).
   */
  async requeueExpired(limit = 100, keepIds: string[] = []): Promise<Array<{ id: string; outcome: 'requeued' | 'failed' | 'cancelled' }>> {
    const candidates: Array<Pick<JobRow, 'id'>> = await this.dataSource.query(
      `SELECT id FROM training_jobs WHERE ${ACTIVE} AND lease_expires_at < now() AND id <> ALL($2::uuid[])
       ORDER BY lease_expires_at LIMIT $1`,
      [limit, keepIds],
    );
    const done: Array<{ id: string; outcome: 'requeued' | 'failed' | 'cancelled' }> = [];
    for (const { id } of candidates) {
      const outcome = await this.dataSource.transaction(async (m) => {
        const [row] = await m.query(
          `SELECT status, attempts, max_attempts, lease_owner FROM training_jobs
           WHERE id = $1 AND ${ACTIVE} AND lease_expires_at < now() FOR UPDATE SKIP LOCKED`,
          [id],
        );
        if (!row) return null;
        const guard = `id = $1 AND ${ACTIVE} AND lease_expires_at < now()`;
        const lost = `lease of worker ${row.lease_owner} expired`;
        if (row.status === 'cancelling') {
          await this.transition(m, guard, [id], { status: 'cancelled', finished_at: sql('now()'), lease_owner: null, lease_expires_at: null },
            TrainingJobEventType.Cancelled, { message: `${lost} while cancelling` });
          return 'cancelled' as const;
        }
        if (row.attempts >= row.max_attempts) {
          const error = `${lost} on attempt ${row.attempts} of ${row.max_attempts}; giving up`;
          await this.transition(m, guard, [id], { status: 'failed', error, finished_at: sql('now()'), lease_owner: null, lease_expires_at: null },
            TrainingJobEventType.Failed, { error });
          return 'failed' as const;
        }
        await this.transition(m, guard, [id], { status: 'pending', lease_owner: null, lease_expires_at: null },
          TrainingJobEventType.Requeued, { message: `${lost} on attempt ${row.attempts} of ${row.max_attempts}; requeued` });
        return 'requeued' as const;
      });
      if (outcome) done.push({ id, outcome });
    }
    if (done.length) this.hooks.onEventsWritten?.();
    return done;
  }

  /** Pending jobs in claim order (for operators and tests). */
  async pendingCount(): Promise<number> {
    const [row] = await this.dataSource.query(`SELECT count(*)::int AS n FROM training_jobs WHERE status = 'pending'`);
    return row.n;
  }

  // ---- internals ------------------------------------------------------------------------------------

  private async workerTransition(
    id: string,
    workerId: string,
    set: Record<string, unknown>,
    type: TrainingJobEventType,
    extra?: Partial<TrainingJobEvent> | ((row: JobRow) => Partial<TrainingJobEvent>),
  ): Promise<boolean> {
    const r = await this.dataSource.transaction((m) =>
      this.transition(m, `id = $1 AND lease_owner = $2 AND ${ACTIVE}`, [id, workerId], set, type, extra),
    );
    if (r) this.hooks.onEventsWritten?.();
    return !!r;
  }

  /**
   * UPDATE training_jobs (guarded by `where`), bump last_seq, insert the event row: one transaction (m).
   * Returns null when the guard matched no row.
   */
  private async transition(
    m: EntityManager,
    where: string,
    whereParams: unknown[],
    set: Record<string, unknown>,
    type: TrainingJobEventType,
    extra?: Partial<TrainingJobEvent> | ((row: JobRow) => Partial<TrainingJobEvent>),
  ): Promise<{ row: JobRow; event: TrainingJobEvent } | null> {
    const params = [...whereParams];
    const assignments = ['last_seq = last_seq + 1', 'updated_at = now()'];
    for (const [column, value] of Object.entries(set)) {
      assignments.push(value instanceof Sql ? `${column} = ${value.text}` : `${column} = $${params.push(value)}`);
    }
    const row = updatedRows(await m.query(`UPDATE training_jobs SET ${assignments.join(', ')} WHERE ${where} RETURNING *`, params))[0];
    if (!row) return null;
    const more = typeof extra === 'function' ? extra(row) : (extra ?? {});
    const payload = { ...snapshot(row), ...stripUndefined(more) };
    const [inserted] = await m.query(
      `INSERT INTO training_job_events (job_id, seq, type, payload) VALUES ($1, $2, $3, $4) RETURNING id, created_at`,
      [row.id, row.last_seq, type, JSON.stringify(payload)],
    );
    return {
      row,
      event: toEvent({ id: inserted.id, job_id: row.id, seq: row.last_seq, type, payload, created_at: inserted.created_at }),
    };
  }
}

/** TypeORM's postgres driver returns [rows, rowCount] for UPDATE ... RETURNING. */
function updatedRows(result: unknown): JobRow[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0];
  return result as JobRow[];
}

async function insertAdapter(m: EntityManager, jobId: string, a: RegisteredAdapterInput): Promise<RegisteredAdapter> {
  const id = randomUUID();
  const name = a.name ?? `adapter-${jobId.slice(0, 8)}`;
  await m.query(`SELECT pg_advisory_xact_lock(hashtext('adapters:' || $1))`, [name]);
  const [{ v }] = await m.query(`SELECT coalesce(max(version), 0) + 1 AS v FROM adapters WHERE name = $1`, [name]);
  await m.query(
    `INSERT INTO adapters (id, name, version, parent_id, base_model, dataset_ref, job_id, metrics, path)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [id, name, v, a.parentId ?? null, a.baseModel, a.datasetRef, jobId, JSON.stringify(a.metrics), a.path],
  );
  return { id, name, version: Number(v) };
}

/** Job fields every event carries, so a consumer never needs to read the job to show progress. */
function snapshot(row: JobRow) {
  return {
    status: row.status as JobStatus,
    progress_percent: Number(row.progress_percent),
    current_epoch: row.current_epoch,
    total_epochs: row.total_epochs,
    current_step: row.current_step,
    total_steps: row.total_steps,
    metrics: (row.metrics ?? {}) as JobMetrics,
    ...(row.error ? { error: row.error as string } : {}),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function jsonLiteral(value: unknown): string {
  // Only numbers (metrics) pass through here; still escape quotes for safety.
  const clean = Object.fromEntries(
    Object.entries(value as Record<string, unknown>).filter(([, v]) => typeof v === 'number' && Number.isFinite(v)),
  );
  return JSON.stringify(clean).replace(/'/g, "''");
}

export function toEvent(row: EventRow): TrainingJobEvent {
  const p = row.payload ?? {};
  return {
    ...p,
    event_id: Number(row.id),
    job_id: row.job_id,
    seq: Number(row.seq),
    type: row.type,
    occurred_at: new Date(row.created_at).toISOString(),
  } as TrainingJobEvent;
}

export function toView(row: JobRow): TrainingJobView {
  const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);
  return {
    job_id: row.id,
    status: row.status,
    trainer_type: row.trainer_type,
    priority: row.priority,
    tags: row.tags ?? [],
    base_model: row.base_model,
    dataset: row.dataset,
    config_path: row.config_path,
    config: row.config,
    hyperparameters: row.hyperparameters ?? {},
    created_by: row.created_by,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    started_at: iso(row.started_at),
    completed_at: iso(row.finished_at),
    progress_percent: Number(row.progress_percent),
    current_epoch: row.current_epoch,
    total_epochs: row.total_epochs,
    current_step: row.current_step,
    total_steps: row.total_steps,
    metrics: row.metrics ?? {},
    attempts: row.attempts,
    max_attempts: row.max_attempts,
    last_checkpoint: row.last_checkpoint,
    adapter_id: row.adapter_id,
    error: row.error,
    last_seq: row.last_seq,
  };
}

function encodeCursor(createdAtText: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAtText, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const [ts, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof ts !== 'string' || !/^\d{4}-\d\d-\d\d[ T][\d:.]+([+-]\d\d(:?\d\d)?|Z)?$/.test(ts) || !/^[0-9a-f-]{36}$/i.test(id)) throw new Error();
    return [ts, id];
  } catch {
    throw new InvalidCursorError();
  }
}
