/**
 * Configuration: every service reads its environment ONCE at start through an envalid schema.
 *
 *   import { readConfig, baseConfigSchema, port, num } from '@clara/platform';
 *   const config = readConfig({ ...baseConfigSchema, CLARA_TRAINING_PORT: port({ default: 45680 }) });
 *
 * A missing or bad value stops the process (exit code 1) with a message naming the variable;
 * pass `{ exitOnError: false }` to get a thrown ConfigError instead (tests).
 */
import { resolve } from 'node:path';
import { bool, cleanEnv, makeValidator, num, port, str, url, type CleanedEnv } from 'envalid';

export { bool, num, port, str, url, makeValidator };

export class ConfigError extends Error {
  constructor(readonly variables: Record<string, string>) {
    super(
      'Invalid configuration: ' +
        Object.entries(variables)
          .map(([name, why]) => `${name}: ${why}`)
          .join('; '),
    );
    this.name = 'ConfigError';
  }
}

/** PostgreSQL connection URL (postgres:// or postgresql://). */
export const postgresUrl = makeValidator<string>((input) => {
  if (!/^postgres(ql)?:\/\/.+/.test(input)) throw new Error('must be a postgres:// or postgresql:// URL');
  return input;
});

/** One or more comma-separated NATS server URLs. */
export const natsUrl = makeValidator<string>((input) => {
  for (const server of input.split(',').map((s) => s.trim())) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(server) && !/^[\w.-]+:\d+$/.test(server)) {
      throw new Error(`"${server}" is not a NATS URL (nats://host:port)`);
    }
  }
  return input;
});

/** TCP port to listen on; 0 = any free port (tests). */
export const listenPort = makeValidator<number>((input) => {
  const n = Number(input);
  if (!/^\d+$/.test(String(input).trim()) || n < 0 || n > 65535) throw new Error('must be a port number from 0 to 65535');
  return n;
});

/** Log level; accepts the seed's spellings (INFO, WARNING) too. */
export const logLevel = makeValidator<'debug' | 'info' | 'warn' | 'error'>((input) => {
  const v = input.trim().toLowerCase();
  if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
  if (v === 'warning') return 'warn';
  if (v === 'critical' || v === 'fatal') return 'error';
  throw new Error('must be one of debug, info, warn, error');
});

/** Variables every CLARA service understands. */
export const baseConfigSchema = {
  /** Unset → embedded PGlite under $CLARA_DATA_DIR/pg. */
  DATABASE_URL: postgresUrl({ default: undefined, desc: 'PostgreSQL URL; unset = embedded PGlite' }),
  /** Unset → in-process message bus. */
  NATS_URL: natsUrl({ default: undefined, desc: 'NATS server(s); unset = in-process bus' }),
  CLARA_DATA_DIR: str({ default: './data', desc: 'root of everything CLARA writes' }),
  CLARA_MODELS_DIR: str({ default: '', desc: 'model directory; empty = $CLARA_DATA_DIR/models' }),
  LOG_LEVEL: logLevel({ default: 'info' }),
};

export interface ReadConfigOptions {
  env?: NodeJS.ProcessEnv | Record<string, string | undefined>;
  /** Default true: print the problem and exit(1). False: throw ConfigError. */
  exitOnError?: boolean;
}

export function readConfig<S extends Record<string, unknown>>(schema: S, options: ReadConfigOptions = {}): CleanedEnv<S> {
  // An empty value means "not set" (VAR= in a .env file or compose), so the default applies.
  const env = Object.fromEntries(Object.entries(options.env ?? process.env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  let problems: Record<string, string> | undefined;
  const cleaned = cleanEnv(env, schema, {
    reporter: ({ errors }) => {
      const entries = Object.entries(errors);
      if (entries.length === 0) return;
      problems = {};
      for (const [name, err] of entries) {
        const value = env[name];
        const error = err as Error;
        problems[name] =
          error.name === 'EnvMissingError' || value === undefined
            ? 'is required but not set'
            : looksSecret(name)
              ? `${error.message.split(String(value)).join('***')} (got "***")`
              : `${error.message} (got ${JSON.stringify(value)})`;
      }
    },
  });
  if (problems) {
    const error = new ConfigError(problems);
    if (options.exitOnError ?? true) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  return cleaned;
}

function looksSecret(name: string): boolean {
  return /secret|password|token|key/i.test(name);
}

/** Resolved absolute directories derived from the base config. */
export function dataDirs(config: { CLARA_DATA_DIR: string; CLARA_MODELS_DIR?: string }) {
  const dataDir = resolve(config.CLARA_DATA_DIR);
  return {
    dataDir,
    modelsDir: config.CLARA_MODELS_DIR ? resolve(config.CLARA_MODELS_DIR) : resolve(dataDir, 'models'),
    pgDir: resolve(dataDir, 'pg'),
  };
}
