/**
 * bootstrap(): the datasets service as a function, so it runs alone (main.ts) or beside other apps in one
 * process (tools/start-embedded), sharing the message bus and the database.
 *
 *   const app = await bootstrap({ bus, db, env: { CLARA_DATASETS_PORT: '0' } });
 *   app.url   // http://127.0.0.1:PORT
 *   await app.close();
 *
 * Anything not passed is created from the environment (DATABASE_URL / NATS_URL, embedded when unset) and
 * closed again by close(); what was passed in is left open for its owner.
 */
import 'reflect-metadata';
import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express from 'express';
import { BEARER_SCHEME, loadAuthConfig, type AuthConfig } from '@clara/auth';
import {
  NestLoggerAdapter,
  acquireDataSource,
  createLogger,
  createMessageBus,
  dataDirs,
  type Logger,
  type MessageBus,
  type SharedDataSource,
  type Subscription,
} from '@clara/platform';
import { DEFAULT_QUALITY_RULES, UDS3_MIGRATIONS, createUds3, type Uds3, type Uds3Config } from '@clara/uds3';
import { DatasetsAppModule } from './app.module.js';
import { startBusResponders } from './bus-responders.js';
import { readDatasetsConfig, type DatasetsConfig } from './config.js';
import { DatasetsService } from './datasets.service.js';
import { DatasetsExceptionFilter, bodyParserErrorHandler } from './http/errors.js';

export interface DatasetsBootstrapOptions {
  bus?: MessageBus;
  db?: SharedDataSource;
  /** Environment overrides (tests); merged over process.env. */
  env?: Record<string, string | undefined>;
  auth?: AuthConfig;
  logger?: Logger;
}

export interface DatasetsApp {
  url: string;
  port: number;
  config: DatasetsConfig;
  uds3: Uds3;
  close(): Promise<void>;
}

export function uds3ConfigFrom(config: DatasetsConfig, dataSource: Uds3Config['dataSource'], vectorsDataSource?: Uds3Config['dataSource']): Uds3Config {
  const rules = config.UDS3_QUALITY_RULES as Partial<typeof DEFAULT_QUALITY_RULES>;
  return {
    dataSource,
    documents: config.UDS3_DOCUMENT_STORE === 'couchdb' ? { kind: 'couchdb', url: config.COUCHDB_URL!, database: config.COUCHDB_DATABASE } : { kind: 'postgres' },
    vectors:
      config.UDS3_VECTOR_STORE === 'chroma'
        ? { kind: 'chroma', url: config.CHROMA_URL!, collection: config.CHROMA_COLLECTION }
        : { kind: 'pgvector', dataSource: vectorsDataSource },
    graph:
      config.UDS3_GRAPH_STORE === 'neo4j'
        ? { kind: 'neo4j', url: config.NEO4J_URL!, user: config.NEO4J_USER, password: config.NEO4J_PASSWORD }
        : { kind: 'postgres' },
    embedder: config.UDS3_EMBEDDER === 'onnx' ? { kind: 'onnx', modelDir: config.UDS3_EMBEDDING_MODEL_DIR! } : { kind: 'hashing', dimension: config.UDS3_EMBEDDING_DIM },
    tokenizerPath: config.UDS3_TOKENIZER_PATH,
    keywordCacheBytes: config.UDS3_KEYWORD_CACHE_MB * 2 ** 20,
    graphCacheBytes: config.UDS3_GRAPH_CACHE_MB * 2 ** 20,
    options: {
      chunk: { maxTokens: config.UDS3_CHUNK_TOKENS, overlapTokens: config.UDS3_CHUNK_OVERLAP },
      quality: { ...DEFAULT_QUALITY_RULES, ...rules, weights: { ...DEFAULT_QUALITY_RULES.weights, ...(rules.weights ?? {}) } },
    },
  };
}

export async function bootstrap(options: DatasetsBootstrapOptions = {}): Promise<DatasetsApp> {
  const env = { ...process.env, ...options.env };
  const config = readDatasetsConfig({ env, exitOnError: !options.env });
  const logger = options.logger ?? createLogger('datasets', { level: config.LOG_LEVEL });
  const auth = options.auth ?? loadAuthConfig(env);
  const dirs = dataDirs(config);
  mkdirSync(dirs.dataDir, { recursive: true });

  const ownBus = !options.bus;
  const bus = options.bus ?? (await createMessageBus({ natsUrl: config.NATS_URL, name: 'clara-datasets', logger }));
  let db: SharedDataSource | undefined;
  let vectorsDb: SharedDataSource | undefined;
  let uds3: Uds3 | undefined;
  try {
    db = options.db ?? (await acquireDataSource({ url: config.DATABASE_URL, dataDir: dirs.pgDir, logger }));
    await db.extend({ migrations: UDS3_MIGRATIONS, logger });
    // embedded: vectors get a PGlite of their own in a worker thread, so vector search runs beside the keyword and
    // graph queries instead of queueing behind them on the one embedded session
    if (db.embedded && config.UDS3_VECTOR_STORE === 'pgvector') {
      vectorsDb = await acquireDataSource({ dataDir: resolve(dirs.dataDir, 'pg-vectors'), embeddedThread: 'worker', logger });
    }
    uds3 = await createUds3(uds3ConfigFrom(config, db.dataSource, vectorsDb?.dataSource));
    const warming = performance.now();
    uds3.keywordWarmUp.then(
      (bytes) => logger.info('keyword cache warmed', { mb: Math.round(bytes / 2 ** 10) / 2 ** 10, ms: Math.round(performance.now() - warming) }),
      (err: Error) => logger.warn('keyword cache warm-up failed; searches read postings as they need them', { error: err.message }),
    );
    uds3.graphWarmUp.catch((err: Error) => logger.warn('graph cache warm-up failed; searches read the graph as they need it', { error: err.message }));
    void uds3.warmUp.then(() => logger.info('search caches warm: ready (GET /ready)', { ms: Math.round(performance.now() - warming) }));
  } catch (err) {
    await uds3?.close();
    await vectorsDb?.release();
    if (!options.db) await db?.release();
    if (ownBus) await bus.close();
    throw err;
  }

  const app = await NestFactory.create<NestExpressApplication>(
    DatasetsAppModule.forRoot({
      datasets: { uds3, bus, dataDir: dirs.dataDir, logger: logger.child('service'), maxUploadBytes: config.UDS3_MAX_UPLOAD_BYTES },
      auth,
    }),
    { bodyParser: false, logger: new NestLoggerAdapter(logger.child('nest')), abortOnError: false },
  );
  app.use(express.json({ limit: config.UDS3_MAX_UPLOAD_BYTES, strict: true }));
  app.use(express.text({ type: ['application/x-ndjson', 'application/jsonl'], limit: config.UDS3_MAX_UPLOAD_BYTES }));
  app.use(bodyParserErrorHandler);
  app.useGlobalFilters(new DatasetsExceptionFilter(logger));
  // No enableShutdownHooks(): whoever starts the app (main.ts, start-embedded) handles the signals and calls
  // close(); Nest's own hook would re-raise the signal after closing the app alone and kill the process mid-close.

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('CLARA datasets API')
      .setDescription('Ingestion, hybrid search (vector, graph, keyword), quality, versions, export (UDS3)')
      .setVersion('0.1.0')
      .addBearerAuth(undefined, BEARER_SCHEME)
      .build(),
  );
  SwaggerModule.setup('api/docs', app, () => document, { jsonDocumentUrl: 'api/docs-json' });

  let responders: Subscription[] = [];
  try {
    await app.listen(config.CLARA_DATASETS_PORT, config.CLARA_DATASETS_HOST);
    responders = await startBusResponders(bus, app.get(DatasetsService));
  } catch (err) {
    await app.close();
    await uds3.close();
    await vectorsDb?.release();
    if (!options.db) await db.release();
    if (ownBus) await bus.close();
    throw err;
  }
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const host = config.CLARA_DATASETS_HOST === '0.0.0.0' ? '127.0.0.1' : config.CLARA_DATASETS_HOST;
  logger.info(`datasets service listening on http://${host}:${port} (docs /api/docs)`, {
    database: db.embedded ? 'embedded PGlite' : 'PostgreSQL',
    documents: uds3.stores.documents.kind,
    vectors: uds3.stores.vectors.kind,
    graph: uds3.stores.graph.kind,
    embedder: uds3.embedder.name,
    bus: bus.kind,
  });

  let closing: Promise<void> | undefined;
  const ready = { uds3, db };
  return {
    url: `http://${host}:${port}`,
    port,
    config,
    uds3,
    close: () =>
      (closing ??= (async () => {
        await Promise.allSettled(responders.map((r) => r.unsubscribe()));
        await app.close();
        await ready.uds3.close();
        await vectorsDb?.release();
        if (!options.db) await ready.db.release();
        if (ownBus) await bus.close();
      })()),
  };
}
