import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Training jobs (durable queue), job events (outbox), relay cursor, adapter registry. */
export class TrainingInit1764140000000 implements MigrationInterface {
  name = 'TrainingInit1764140000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE training_jobs (
        id uuid PRIMARY KEY,
        status text NOT NULL CHECK (status IN ('pending','running','cancelling','cancelled','completed','failed')),
        trainer_type text NOT NULL,
        priority int NOT NULL CHECK (priority BETWEEN 1 AND 10),
        tags text[] NOT NULL DEFAULT '{}',
        base_model text,
        dataset text,
        config_path text,
        config jsonb,
        hyperparameters jsonb NOT NULL DEFAULT '{}',
        created_by text NOT NULL,
        idempotency_key text,
        request_hash text,
        attempts int NOT NULL DEFAULT 0,
        max_attempts int NOT NULL DEFAULT 3,
        lease_owner text,
        lease_expires_at timestamptz,
        progress_percent double precision NOT NULL DEFAULT 0,
        current_epoch int,
        total_epochs int,
        current_step int,
        total_steps int,
        metrics jsonb NOT NULL DEFAULT '{}',
        last_checkpoint text,
        adapter_id uuid,
        result jsonb,
        error text,
        last_seq int NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      )`);
    // Claim order: highest priority, then oldest.
    await q.query(`CREATE INDEX training_jobs_queue_idx ON training_jobs (priority DESC, created_at ASC) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX training_jobs_lease_idx ON training_jobs (lease_expires_at) WHERE status IN ('running','cancelling')`);
    await q.query(`CREATE INDEX training_jobs_list_idx ON training_jobs (created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX training_jobs_status_idx ON training_jobs (status, created_at DESC)`);
    await q.query(`CREATE INDEX training_jobs_creator_idx ON training_jobs (created_by, created_at DESC)`);
    await q.query(`CREATE INDEX training_jobs_tags_idx ON training_jobs USING gin (tags)`);
    await q.query(`CREATE UNIQUE INDEX training_jobs_idempotency_idx ON training_jobs (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL`);

    await q.query(`
      CREATE TABLE training_job_events (
        id bigserial PRIMARY KEY,
        job_id uuid NOT NULL REFERENCES training_jobs(id) ON DELETE CASCADE,
        seq int NOT NULL,
        type text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        UNIQUE (job_id, seq)
      )`);
    await q.query(`CREATE INDEX training_job_events_unpublished_idx ON training_job_events (id) WHERE published_at IS NULL`);

    // One row: the id of the last event the relay published (events are published strictly in id order).
    await q.query(`CREATE TABLE training_outbox_cursor (id smallint PRIMARY KEY CHECK (id = 1), last_event_id bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`INSERT INTO training_outbox_cursor (id, last_event_id) VALUES (1, 0)`);

    await q.query(`
      CREATE TABLE adapters (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        version int NOT NULL,
        parent_id uuid REFERENCES adapters(id) ON DELETE SET NULL,
        base_model text NOT NULL,
        dataset_ref text,
        job_id uuid REFERENCES training_jobs(id) ON DELETE SET NULL,
        metrics jsonb NOT NULL DEFAULT '{}',
        path text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (name, version)
      )`);
    await q.query(`CREATE INDEX adapters_job_idx ON adapters (job_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE adapters');
    await q.query('DROP TABLE training_outbox_cursor');
    await q.query('DROP TABLE training_job_events');
    await q.query('DROP TABLE training_jobs');
  }
}
