/**
 * bootstrap(): the training API as a function, so it runs alone (main.ts) or beside other apps in one
 * process (tools/start-embedded), sharing the message bus and the database.
 *
 *   const app = await bootstrap({ bus, db, env: { CLARA_TRAINING_PORT: '0' } });
 *   app.url   // http://127.0.0.1:PORT
 *   await app.close();
 *
 * Anything not passed is created from the environment (DATABASE_URL / NATS_URL, embedded when unset) and
 * closed again by close(); what was passed in is left open for its owner.
 */
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express from 'express';
import {
  AuthService,
  BEARER_SCHEME,
  Permission,
  authenticateWebSocket,
  loadAuthConfig,
  selectWebSocketProtocol,
  webSocketRejection,
  type AuthConfig,
} from '@clara/auth';
import { AdapterRepository, OutboxRelay, TrainingJobRepository, trainingEntities, trainingMigrations } from '@clara/data-access';
import { engineJobValidator } from './adapters/job-validation.js';
import {
  NestLoggerAdapter,
  createLogger,
  dataDirs,
  openAppInfrastructure,
  type Logger,
  type MessageBus,
  type SharedDataSource,
} from '@clara/platform';
import { TrainingAppModule } from './app.module.js';
import { readTrainingConfig, type TrainingConfig } from './config.js';
import { JsonExceptionFilter, bodyParserErrorHandler } from './http/errors.js';
import { StrictValidationPipe } from './http/validation.js';
import { TrainingEventsHub } from './ws/training-events.hub.js';

export interface TrainingBootstrapOptions {
  /** Shared bus (embedded launcher); default: created from NATS_URL. */
  bus?: MessageBus;
  /** Shared database; default: acquireDataSource from DATABASE_URL / CLARA_DATA_DIR. */
  db?: SharedDataSource;
  /** Environment overrides (tests); merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Auth configuration; default: loadAuthConfig(env). */
  auth?: AuthConfig;
  logger?: Logger;
  /** Run the outbox relay in this process (default true). */
  relay?: boolean;
}

export interface TrainingApp {
  url: string;
  port: number;
  config: TrainingConfig;
  jobs: TrainingJobRepository;
  hub: TrainingEventsHub;
  close(): Promise<void>;
}

export async function bootstrap(options: TrainingBootstrapOptions = {}): Promise<TrainingApp> {
  const env = { ...process.env, ...options.env };
  const config = readTrainingConfig({ env, exitOnError: !options.env });
  const logger = options.logger ?? createLogger('training', { level: config.LOG_LEVEL });
  const auth = options.auth ?? loadAuthConfig(env);
  const dirs = dataDirs(config);
  mkdirSync(dirs.dataDir, { recursive: true });

  const { bus, db, release } = await openAppInfrastructure({
    bus: options.bus,
    db: options.db,
    natsUrl: config.NATS_URL,
    busName: 'clara-training',
    databaseUrl: config.DATABASE_URL,
    pgDir: dirs.pgDir,
    schema: { entities: trainingEntities, migrations: trainingMigrations },
    logger,
  });

  const relay = new OutboxRelay(db.dataSource, bus, { logger: logger.child('outbox') });
  const jobs = new TrainingJobRepository(db.dataSource, { onEventsWritten: () => relay.kick() });

  const app = await NestFactory.create<NestExpressApplication>(
    TrainingAppModule.forRoot({
      training: {
        jobs,
        bus,
        dataDir: dirs.dataDir,
        logger,
        validateJob: engineJobValidator({ dataDir: dirs.dataDir, modelsDir: dirs.modelsDir, adapters: new AdapterRepository(db.dataSource) }),
      },
      adapters: { adapters: new AdapterRepository(db.dataSource), bus, dataDir: dirs.dataDir, logger: logger.child('adapters') },
      health: { db, bus, service: 'clara-training', startedAt: Date.now() },
      datasets: { bus, datasetsUrl: config.CLARA_DATASETS_URL, timeoutMs: config.CLARA_DATASETS_TIMEOUT_MS },
      auth,
    }),
    { bodyParser: false, logger: new NestLoggerAdapter(logger.child('nest')), abortOnError: false },
  );
  app.use(express.json({ limit: '1mb', strict: true }));
  app.use(bodyParserErrorHandler);
  app.useGlobalPipes(new StrictValidationPipe());
  app.useGlobalFilters(new JsonExceptionFilter(logger));
  // No enableShutdownHooks(): whoever starts the app (main.ts, start-embedded) handles the signals and calls
  // close(); Nest's own hook would re-raise the signal after closing the app alone and kill the process mid-close.

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('CLARA training API')
      .setDescription('Training jobs (durable queue), job events, dataset search forwarding. Live events: WebSocket /ws/training.')
      .setVersion('0.1.0')
      .addBearerAuth(undefined, BEARER_SCHEME)
      .build(),
  );
  SwaggerModule.setup('api/docs', app, () => document, { jsonDocumentUrl: 'api/docs-json' });

  const authService = app.get(AuthService);
  const hub = new TrainingEventsHub(
    jobs,
    bus,
    async (req) => {
      try {
        return await authenticateWebSocket(authService, req, { permission: Permission.TrainingJobRead });
      } catch (err) {
        throw webSocketRejection(err);
      }
    },
    logger.child('ws'),
    { pingIntervalMs: config.CLARA_WS_PING_INTERVAL_MS, handleProtocols: selectWebSocketProtocol },
  );

  await app.listen(config.CLARA_TRAINING_PORT, config.CLARA_TRAINING_HOST);
  const server = app.getHttpServer();
  await hub.start(server);
  if (options.relay ?? true) relay.start();
  const port = (server.address() as AddressInfo).port;
  const host = config.CLARA_TRAINING_HOST === '0.0.0.0' ? '127.0.0.1' : config.CLARA_TRAINING_HOST;
  logger.info(`training API listening on http://${host}:${port} (docs /api/docs, WebSocket /ws/training)`, {
    database: db.embedded ? 'embedded PGlite' : 'PostgreSQL',
    bus: bus.kind,
  });

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    config,
    jobs,
    hub,
    close: () =>
      (closing ??= (async () => {
        await hub.stop();
        await relay.stop();
        await app.close();
        await release();
      })()),
  };
}
