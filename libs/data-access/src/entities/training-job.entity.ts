import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { JobMetrics, JobStatus, TrainerType } from '@clara/contracts';

/** One training job: the durable queue entry AND its live state. PostgreSQL is the source of truth. */
@Entity('training_jobs')
export class TrainingJobEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') status: JobStatus;
  @Column('text', { name: 'trainer_type' }) trainerType: TrainerType;
  @Column('int') priority: number;
  @Column('text', { array: true, default: () => "'{}'" }) tags: string[];
  @Column('text', { name: 'base_model', nullable: true }) baseModel: string | null;
  @Column('text', { nullable: true }) dataset: string | null;
  @Column('text', { name: 'config_path', nullable: true }) configPath: string | null;
  @Column('jsonb', { nullable: true }) config: Record<string, unknown> | null;
  @Column('jsonb', { default: () => "'{}'" }) hyperparameters: Record<string, unknown>;
  @Column('text', { name: 'created_by' }) createdBy: string;
  @Column('text', { name: 'idempotency_key', nullable: true }) idempotencyKey: string | null;
  @Column('text', { name: 'request_hash', nullable: true }) requestHash: string | null;
  @Column('int', { default: 0 }) attempts: number;
  @Column('int', { name: 'max_attempts', default: 3 }) maxAttempts: number;
  @Column('text', { name: 'lease_owner', nullable: true }) leaseOwner: string | null;
  @Column('timestamptz', { name: 'lease_expires_at', nullable: true }) leaseExpiresAt: Date | null;
  @Column('double precision', { name: 'progress_percent', default: 0 }) progressPercent: number;
  @Column('int', { name: 'current_epoch', nullable: true }) currentEpoch: number | null;
  @Column('int', { name: 'total_epochs', nullable: true }) totalEpochs: number | null;
  @Column('int', { name: 'current_step', nullable: true }) currentStep: number | null;
  @Column('int', { name: 'total_steps', nullable: true }) totalSteps: number | null;
  @Column('jsonb', { default: () => "'{}'" }) metrics: JobMetrics;
  @Column('text', { name: 'last_checkpoint', nullable: true }) lastCheckpoint: string | null;
  @Column('uuid', { name: 'adapter_id', nullable: true }) adapterId: string | null;
  @Column('jsonb', { nullable: true }) result: Record<string, unknown> | null;
  @Column('text', { nullable: true }) error: string | null;
  /** Per-job event counter: the seq of the newest event in training_job_events. */
  @Column('int', { name: 'last_seq', default: 0 }) lastSeq: number;
  @Index() @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
  @Column('timestamptz', { name: 'started_at', nullable: true }) startedAt: Date | null;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt: Date | null;
}
