/**
 * Serving app: OpenAI-compatible multi-LoRA inference on port CLARA_SERVING_PORT (45682).
 *
 *   const serving = await bootstrap();                       // reads the environment, loads the base model, listens
 *   const serving = await bootstrap({ env, port: 0, bus });  // tests / the embedded launcher (shared bus)
 *   await serving.close();
 */
import 'reflect-metadata';
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AuthModule, loadAuthConfig } from '@clara/auth';
import { AdapterEntity, trainingEntities, trainingMigrations } from '@clara/data-access';
import { ServingEngine } from '@clara/engine/inference/index';
import { DEMO_MODEL_NAME, ensureDemoModel } from '@clara/engine/io/tiny-checkpoint';
import { acquireDataSource, createLogger, createMessageBus, dataDirs, NestLoggerAdapter, type Logger, type MessageBus, type SharedDataSource } from '@clara/platform';
import { AdapterSync, type AdapterRegistryReader } from './adapter-sync.js';
import { CompletionRunner } from './completions.js';
import { readServingConfig, type ServingConfig } from './config.js';
import { ServingMetrics } from './metrics.js';
import { OpenAIController } from './openai.controller.js';
import { OpenAIErrorFilter } from './openai-errors.js';
import { OpsController } from './ops.controller.js';
import { SERVING_STATE, type ServingState } from './serving-state.js';

export interface ServingBootstrapOptions {
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Overrides CLARA_SERVING_PORT (0 = any free port). */
  port?: number;
  host?: string;
  /** A bus shared with other services in the process; default: NATS_URL or in-process. */
  bus?: MessageBus;
  /** The launcher's database; serving re-acquires the same one (same URL / data dir) so its entities merge in. */
  db?: SharedDataSource;
  logger?: Logger;
  /** Default true. */
  listen?: boolean;
  /** close(): how long running requests may finish before they are aborted (default 10 s). */
  drainMs?: number;
}

export interface ServingApp {
  app: INestApplication;
  url: string;
  port: number;
  state: ServingState;
  close(): Promise<void>;
}

@Module({})
class ServingModule {
  static forRoot(state: ServingState, env: Record<string, string | undefined>): DynamicModule {
    return {
      module: ServingModule,
      imports: [AuthModule.forRoot({ config: loadAuthConfig(env) })],
      controllers: [OpenAIController, OpsController],
      providers: [{ provide: SERVING_STATE, useValue: state }],
    };
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function resolveModelDir(config: ServingConfig): Promise<string> {
  const { modelsDir } = dataDirs(config);
  const dir = join(modelsDir, config.CLARA_SERVING_BASE_MODEL);
  if (!(await exists(join(dir, 'config.json'))) && config.CLARA_SERVING_BASE_MODEL === DEMO_MODEL_NAME) await ensureDemoModel(modelsDir);
  if (!(await exists(join(dir, 'config.json')))) {
    throw new Error(`CLARA_SERVING_BASE_MODEL: no model directory with config.json at ${dir}`);
  }
  return dir;
}

function registryReader(db: SharedDataSource): AdapterRegistryReader {
  const repo = db.dataSource.getRepository(AdapterEntity);
  return {
    async find(name, version) {
      const row = await repo.findOne({ where: version === undefined ? { name } : { name, version }, order: { version: 'DESC' } });
      return row ? { id: row.id, name: row.name, version: row.version, path: row.path, baseModel: row.baseModel } : null;
    },
  };
}

export async function bootstrap(options: ServingBootstrapOptions = {}): Promise<ServingApp> {
  const env = options.env ?? process.env;
  const config = readServingConfig({ env, exitOnError: options.env === undefined });
  const log = options.logger ?? createLogger('serving', { level: config.LOG_LEVEL });
  const modelDir = await resolveModelDir(config);
  const modelName = config.CLARA_SERVING_BASE_MODEL;

  // metrics first (the engine reports steps and evictions into them); their gauges read the engine once it exists
  const ref: { engine?: ServingEngine } = {};
  const metrics = new ServingMetrics({
    queueDepth: () => ref.engine?.batcher.queueDepth ?? 0,
    running: () => ref.engine?.batcher.batchSize ?? 0,
    loadedAdapters: () => ref.engine?.pool.residentCount() ?? 0,
    knownAdapters: () => ref.engine?.pool.list().length ?? 0,
  });
  const engine = await ServingEngine.open({
    modelDir,
    modelName,
    maxLoras: config.CLARA_SERVING_MAX_LORAS,
    maxLoraRank: config.CLARA_SERVING_MAX_LORA_RANK,
    maxBatch: config.CLARA_SERVING_MAX_BATCH,
    intraOpThreads: config.CLARA_SERVING_THREADS,
    runner: config.CLARA_SERVING_RUNNER as 'worker' | 'inline',
    onStep: (s) => {
      metrics.stepBatch.observe({ kind: s.kind }, s.rows);
      metrics.stepSeconds.observe({ kind: s.kind }, s.ms / 1000);
    },
    poolEvents: { onEvict: (name) => metrics.evictions.inc({ adapter: name }) },
  });
  ref.engine = engine;

  const ownBus = !options.bus;
  const bus = options.bus ?? (await createMessageBus({ natsUrl: config.NATS_URL, name: 'clara-serving', logger: log }));
  let db: SharedDataSource | undefined;
  if (config.CLARA_SERVING_REGISTRY) {
    db = await acquireDataSource({ url: config.DATABASE_URL, dataDir: dataDirs(config).pgDir, entities: trainingEntities, migrations: trainingMigrations, logger: log });
  }

  const app = await NestFactory.create<NestExpressApplication>(ServingModule.forRoot({} as ServingState, env), {
    logger: new NestLoggerAdapter(log.child('nest')),
    bodyParser: false,
  });
  // the state object is filled below and shared by reference with the controllers
  const state = app.get<ServingState>(SERVING_STATE);
  const port = options.port ?? config.CLARA_SERVING_PORT;
  const replicaId = config.CLARA_SERVING_REPLICA_ID || `${hostname()}:${port}`;
  const adapters = new AdapterSync(engine, () => state.replicaId, log.child('adapters'), {
    bus,
    registry: db ? registryReader(db) : undefined,
    adapterRoot: config.CLARA_SERVING_ADAPTER_ROOT || undefined,
    onLoaded: (ms) => metrics.adapterLoadSeconds.observe(ms / 1000),
  });
  Object.assign(state, {
    config,
    engine,
    runner: new CompletionRunner(engine, metrics, config.CLARA_SERVING_MAX_WAITING),
    adapters,
    metrics,
    bus,
    log,
    replicaId,
    startedAt: Date.now(),
    ready: false,
  } satisfies ServingState);
  app.useBodyParser('json', { limit: '16mb' });
  app.useGlobalFilters(new OpenAIErrorFilter((err) => log.error('request failed', err instanceof Error ? err : { err: String(err) })));
  // No enableShutdownHooks(): whoever starts the app (main.ts, start-embedded) handles the signals and calls
  // close(); Nest's own hook would re-raise the signal after closing the app alone and kill the process mid-close.
  await adapters.start();

  let listenedPort = port;
  if (options.listen !== false) {
    await app.listen(port, options.host ?? config.CLARA_SERVING_HOST);
    listenedPort = (app.getHttpServer().address() as { port: number }).port;
    if (!config.CLARA_SERVING_REPLICA_ID) state.replicaId = `${hostname()}:${listenedPort}`;
  }
  state.ready = true;
  log.info('serving ready', { model: modelName, port: listenedPort, replica: state.replicaId, slots: config.CLARA_SERVING_MAX_LORAS });

  let closed = false;
  return {
    app,
    url: `http://127.0.0.1:${listenedPort}`,
    port: listenedPort,
    state,
    async close() {
      if (closed) return;
      closed = true;
      // drain: /health turns 503 so balancers stop sending, running requests get a few seconds to finish
      state.ready = false;
      const drainUntil = Date.now() + (options.drainMs ?? 10_000);
      while ((engine.batcher.batchSize > 0 || engine.batcher.queueDepth > 0) && Date.now() < drainUntil) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await adapters.stop();
      await engine.batcher.stop();
      await app.close();
      await engine.runner.dispose();
      await db?.release();
      if (ownBus) await bus.close();
    },
  };
}
