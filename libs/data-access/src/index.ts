import { AdapterEntity } from './entities/adapter.entity.js';
import { TrainingJobEventEntity } from './entities/training-job-event.entity.js';
import { TrainingJobEntity } from './entities/training-job.entity.js';
import { TrainingInit1764140000000 } from './migrations/1764140000000-training-init.js';

export { AdapterEntity, TrainingJobEntity, TrainingJobEventEntity, TrainingInit1764140000000 };
export * from './training-job.repository.js';
export * from './adapter.repository.js';
export * from './outbox-relay.js';

/** Pass to acquireDataSource({ entities: trainingEntities, migrations: trainingMigrations }). */
export const trainingEntities = [TrainingJobEntity, TrainingJobEventEntity, AdapterEntity];
export const trainingMigrations = [TrainingInit1764140000000];
