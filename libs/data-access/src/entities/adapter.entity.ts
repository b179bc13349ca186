import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** Adapter registry: one row per trained LoRA adapter (lineage through parent_id). */
@Entity('adapters')
export class AdapterEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('int') version: number;
  @Column('uuid', { name: 'parent_id', nullable: true }) parentId: string | null;
  @Column('text', { name: 'base_model' }) baseModel: string;
  /** Dataset version id or dataset path the adapter was trained on. */
  @Column('text', { name: 'dataset_ref', nullable: true }) datasetRef: string | null;
  @Column('uuid', { name: 'job_id', nullable: true }) jobId: string | null;
  @Column('jsonb', { default: () => "'{}'" }) metrics: Record<string, unknown>;
  /** Directory of the adapter (PEFT layout). */
  @Column('text') path: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
