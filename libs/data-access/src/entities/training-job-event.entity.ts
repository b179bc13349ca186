import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Transactional outbox + event history. A row is written in the same transaction as the job change it
 * describes; the OutboxRelay publishes rows in id order and sets published_at.
 */
@Entity('training_job_events')
export class TrainingJobEventEntity {
  /** Global, increasing in commit-safe publish order: the resume cursor for "all jobs" subscribers. */
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('uuid', { name: 'job_id' }) jobId: string;
  /** Per-job, 1, 2, 3, ... without gaps. */
  @Column('int') seq: number;
  @Column('text') type: string;
  @Column('jsonb') payload: Record<string, unknown>;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @Column('timestamptz', { name: 'published_at', nullable: true }) publishedAt: Date | null;
}
