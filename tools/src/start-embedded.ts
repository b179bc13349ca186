/**
 * The whole CLARA suite in one process tree — what `npm start` runs:
 *   embedded PostgreSQL (PGlite under $CLARA_DATA_DIR/pg) unless DATABASE_URL is set,
 *   in-process message bus unless NATS_URL is set,
 *   training API (45680) + training worker, datasets service (45681), serving (45682).
 * Training itself runs in child processes started by the worker.
 *
 * Every app package exports `bootstrap(options)` and this launcher hands each the same bus and database:
 *   bootstrap({ bus: MessageBus, db: SharedDataSource, env: Record<string,string|undefined>, logger: Logger })
 *     → Promise<{ url?: string; close(): Promise<void> }>
 */
import { pathToFileURL } from 'node:url';
import { ensureDemoModel } from '@clara/engine/io/tiny-checkpoint';
import {
  acquireDataSource,
  baseConfigSchema,
  createLogger,
  createMessageBus,
  dataDirs,
  readConfig,
  runAsProcessMain,
  type Logger,
  type MessageBus,
  type SharedDataSource,
} from '@clara/platform';

export type ServiceName = 'training' | 'worker' | 'datasets' | 'serving';
export const ALL_SERVICES: ServiceName[] = ['training', 'worker', 'datasets', 'serving'];

const PACKAGES: Record<ServiceName, string> = {
  training: '@clara/training',
  worker: '@clara/training-worker',
  datasets: '@clara/datasets',
  serving: '@clara/serving',
};

interface BootstrapOptions {
  bus: MessageBus;
  db: SharedDataSource;
  env: Record<string, string | undefined>;
  logger: Logger;
}
interface Started {
  url?: string;
  close(): Promise<void>;
}

export interface EmbeddedSuite {
  bus: MessageBus;
  db: SharedDataSource;
  services: Partial<Record<ServiceName, Started>>;
  close(): Promise<void>;
}

export async function startEmbedded(options: { env?: Record<string, string | undefined>; services?: ServiceName[] } = {}): Promise<EmbeddedSuite> {
  const env = { CLARA_SECURITY_MODE: 'debug', ...process.env, ...options.env };
  const config = readConfig(baseConfigSchema, { env, exitOnError: !options.env });
  const logger = createLogger('clara', { level: config.LOG_LEVEL });
  const dirs = dataDirs(config);
  // A new user has no model yet: create the RANDOM-weight demo-tiny-llama so the whole pipeline runs at once.
  const demo = await ensureDemoModel(dirs.modelsDir);
  if (demo) logger.warn(`created ${demo} (RANDOM weights, for trying the pipeline; see CLARA_DEMO_MODEL.md there)`);
  const bus = await createMessageBus({ natsUrl: config.NATS_URL, name: 'clara-embedded', logger: logger.child('bus') });
  const db = await acquireDataSource({ url: config.DATABASE_URL, dataDir: dirs.pgDir, logger: logger.child('db') });
  const started: Array<[ServiceName, Started]> = [];
  const close = async () => {
    for (const [name, s] of started.reverse()) {
      await s.close().catch((err: Error) => logger.error(`${name} did not stop cleanly`, { err }));
    }
    await db.release();
    await bus.close();
  };
  try {
    for (const name of options.services ?? ALL_SERVICES) {
      const mod = await importService(PACKAGES[name]);
      if (!mod) {
        logger.warn(`${PACKAGES[name]} is not built or has no bootstrap(); ${name} not started`);
        continue;
      }
      const s = await mod.bootstrap({ bus, db, env, logger: logger.child(name) });
      started.push([name, s]);
    }
  } catch (err) {
    await close();
    throw err;
  }
  logger.info(
    [
      'CLARA is running (embedded suite):',
      ...started.map(([name, s]) => `  ${name.padEnd(9)} ${s.url ?? '(no HTTP)'}`),
      `  database  ${db.embedded ? `embedded PGlite in ${dirs.pgDir}` : 'PostgreSQL (DATABASE_URL)'}`,
      `  bus       ${bus.kind === 'nats' ? 'NATS JetStream (NATS_URL)' : 'in-process'}`,
    ].join('\n'),
  );
  return { bus, db, services: Object.fromEntries(started), close };
}

/** The package's module, or undefined when the package does not exist (yet) or exports no bootstrap. */
async function importService(pkg: string): Promise<{ bootstrap(o: BootstrapOptions): Promise<Started> } | undefined> {
  try {
    const mod = await import(pkg);
    return typeof mod.bootstrap === 'function' ? mod : undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Only "this package is missing" is tolerated; an error inside an existing package must surface.
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && String(e.message).includes(pkg)) return undefined;
    throw err;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runAsProcessMain('CLARA', () => startEmbedded());
}
