import type { DataSource } from 'typeorm';
import { AdapterRepository } from '@clara/data-access';
import { assertExecutionProvider, type ExecutionProvider } from './execution-provider.js';
import { registerEngineTrainers as register, type ParentAdapter } from './engine-trainer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Registry lookup for continued training: an adapter id, `name@version`, or `name` (its newest version). */
export function adapterFinder(dataSource: DataSource): (ref: string) => Promise<ParentAdapter | null> {
  const repo = new AdapterRepository(dataSource);
  return async (ref) => {
    let row;
    if (UUID.test(ref)) row = await repo.findById(ref);
    else {
      const [name, version] = ref.split('@');
      const rows: { id: string }[] = await dataSource.query(
        version ? `SELECT id FROM adapters WHERE name = $1 AND version = $2` : `SELECT id FROM adapters WHERE name = $1 ORDER BY version DESC LIMIT 1`,
        version ? [name, Number(version) || -1] : [name],
      );
      row = rows[0] ? await repo.findById(rows[0].id) : null;
    }
    return row ? { id: row.id, name: row.name, version: row.version, path: row.path, baseModel: row.baseModel, datasetRef: row.datasetRef } : null;
  };
}

/** Called by bootstrap(): fails the worker start when CUDA is asked for but unusable. */
export async function registerEngineTrainers(
  dataSource: DataSource,
  config: { CLARA_EXECUTION_PROVIDER: string; CLARA_TRAIN_THREADS: number; CLARA_TRAIN_MAX_HEAP_MB: number },
): Promise<() => void> {
  const provider = config.CLARA_EXECUTION_PROVIDER as ExecutionProvider;
  await assertExecutionProvider(provider);
  return register({
    findAdapter: adapterFinder(dataSource),
    executionProvider: provider,
    threads: config.CLARA_TRAIN_THREADS,
    maxOldSpaceMb: config.CLARA_TRAIN_MAX_HEAP_MB,
  });
}
