/**
 * bootstrap(): a training worker as a function (standalone via main.ts, or inside tools/start-embedded).
 *
 *   const w = await bootstrap({ bus, db, env: { CLARA_MAX_CONCURRENT_JOBS: '1' } });
 *   await w.close();   // stops claiming, puts running jobs back in the queue
 *
 * Trainers must be registered (registerTrainer) before jobs of their type arrive; unregistered types fail.
 */
import { mkdirSync } from 'node:fs';
import { OutboxRelay, TrainingJobRepository, trainingEntities, trainingMigrations } from '@clara/data-access';
import { createLogger, dataDirs, openAppInfrastructure, type Logger, type MessageBus, type SharedDataSource } from '@clara/platform';
import { readWorkerConfig, type WorkerConfig } from './config.js';
import { TrainingWorker } from './worker.js';
import { registerEngineTrainers } from './engine-trainer/register.js';

export interface WorkerBootstrapOptions {
  bus?: MessageBus;
  db?: SharedDataSource;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Run an outbox relay in this process (default true; the worker writes most events). */
  relay?: boolean;
  /** Register the engine's lora/qlora/continuous trainers (default true; queue tests may turn it off). */
  engineTrainers?: boolean;
}

export interface WorkerApp {
  worker: TrainingWorker;
  config: WorkerConfig;
  jobs: TrainingJobRepository;
  close(): Promise<void>;
}

export async function bootstrap(options: WorkerBootstrapOptions = {}): Promise<WorkerApp> {
  const env = { ...process.env, ...options.env };
  const config = readWorkerConfig({ env, exitOnError: !options.env });
  const logger = options.logger ?? createLogger('training-worker', { level: config.LOG_LEVEL });
  const dirs = dataDirs(config);
  mkdirSync(dirs.dataDir, { recursive: true });
  const { bus, db, release } = await openAppInfrastructure({
    bus: options.bus,
    db: options.db,
    natsUrl: config.NATS_URL,
    busName: `clara-worker-${config.CLARA_WORKER_ID}`,
    databaseUrl: config.DATABASE_URL,
    pgDir: dirs.pgDir,
    schema: { entities: trainingEntities, migrations: trainingMigrations },
    logger,
  });
  try {
    // The engine's lora/qlora/continuous trainers (types a caller registered first are kept); checks CUDA if asked.
    if (options.engineTrainers ?? true) await registerEngineTrainers(bus, db.dataSource, config);
  } catch (err) {
    await release();
    throw err;
  }
  const relay = new OutboxRelay(db.dataSource, bus, { logger: logger.child('outbox') });
  const jobs = new TrainingJobRepository(db.dataSource, { onEventsWritten: () => relay.kick() });
  const worker = new TrainingWorker(
    jobs,
    bus,
    {
      workerId: config.CLARA_WORKER_ID,
      maxConcurrentJobs: config.CLARA_MAX_CONCURRENT_JOBS,
      leaseMs: config.CLARA_LEASE_MS,
      sweepIntervalMs: config.CLARA_SWEEP_INTERVAL_MS,
      progressIntervalMs: config.CLARA_PROGRESS_INTERVAL_MS,
      dataDir: dirs.dataDir,
      modelsDir: dirs.modelsDir,
    },
    logger,
  );
  if (options.relay ?? true) relay.start();
  await worker.start();
  let closing: Promise<void> | undefined;
  return {
    worker,
    config,
    jobs,
    close: () =>
      (closing ??= (async () => {
        await worker.stop();
        await relay.stop();
        await release();
      })()),
  };
}
