/**
 * AdapterRepository: the adapter registry (trained LoRA adapters with lineage).
 *   const adapters = new AdapterRepository(dataSource);
 *   await adapters.register({ name, baseModel, datasetRef, jobId, path, metrics, parentId });  // version auto-increments per name
 */
import { randomUUID } from 'node:crypto';
import { In, type DataSource } from 'typeorm';
import { AdapterEntity } from './entities/adapter.entity.js';

export interface NewAdapter {
  name: string;
  baseModel: string;
  datasetRef?: string | null;
  jobId?: string | null;
  parentId?: string | null;
  path: string;
  metrics?: Record<string, unknown>;
}

export class AdapterRepository {
  constructor(private readonly dataSource: DataSource) {}

  async register(a: NewAdapter): Promise<AdapterEntity> {
    return this.dataSource.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtext('adapters:' || $1))`, [a.name]);
      const [{ v }] = await m.query(`SELECT coalesce(max(version), 0) + 1 AS v FROM adapters WHERE name = $1`, [a.name]);
      const entity = m.create(AdapterEntity, {
        id: randomUUID(),
        name: a.name,
        version: v,
        parentId: a.parentId ?? null,
        baseModel: a.baseModel,
        datasetRef: a.datasetRef ?? null,
        jobId: a.jobId ?? null,
        metrics: a.metrics ?? {},
        path: a.path,
      });
      return m.save(entity);
    });
  }

  findById(id: string): Promise<AdapterEntity | null> {
    return this.dataSource.getRepository(AdapterEntity).findOneBy({ id });
  }

  findByJob(jobId: string): Promise<AdapterEntity[]> {
    return this.dataSource.getRepository(AdapterEntity).find({ where: { jobId }, order: { createdAt: 'ASC' } });
  }

  /** Removes the record (children keep existing; their parent_id becomes NULL). True when it existed. */
  async delete(id: string): Promise<boolean> {
    const r = await this.dataSource.getRepository(AdapterEntity).delete({ id });
    return (r.affected ?? 0) > 0;
  }

  list(limit = 100): Promise<AdapterEntity[]> {
    return this.dataSource.getRepository(AdapterEntity).find({ order: { createdAt: 'DESC' }, take: limit });
  }

  /** Ancestors first → this adapter last. */
  async lineage(id: string): Promise<AdapterEntity[]> {
    const rows = await this.dataSource.query(
      `WITH RECURSIVE chain AS (
         SELECT a.*, 0 AS depth FROM adapters a WHERE id = $1
         UNION ALL SELECT p.*, c.depth + 1 FROM adapters p JOIN chain c ON p.id = c.parent_id WHERE c.depth < 100)
       SELECT id FROM chain ORDER BY depth DESC`,
      [id],
    );
    const repo = this.dataSource.getRepository(AdapterEntity);
    const all = await repo.findBy({ id: In(rows.map((r: { id: string }) => r.id)) });
    return rows.map((r: { id: string }) => all.find((a) => a.id === r.id)!);
  }
}
