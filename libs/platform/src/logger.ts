/**
 * Small structured logger that never prints secrets.
 *
 *   import { createLogger } from '@clara/platform';
 *   const log = createLogger('training', { level: config.LOG_LEVEL });
 *   log.info('job created', { jobId, token: 'abc' });     // token → "[redacted]"
 *   const child = log.child('outbox');
 *   app.useLogger(new NestLoggerAdapter(log));              // Nest's own messages go through it too
 *
 * Fields whose names look secret (token, password, secret, authorization, cookie, api key, private key)
 * are replaced at any depth, and credentials inside URLs (postgres://user:pass@host) are masked.
 */
import type { LoggerService } from '@nestjs/common';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SECRET_KEY = /(token|password|passwd|secret|authorization|cookie|api[-_]?key|private[-_]?key|credential)/i;
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]+):([^/@\s]+)@/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;
export const REDACTED = '[redacted]';

/** Deep copy of `value` with secrets replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[deep]';
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return { name: value.name, message: redactString(value.message), stack: value.stack ? redactString(value.stack) : undefined };
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

export function redactString(s: string): string {
  return s.replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`).replace(BEARER, `$1 ${REDACTED}`);
}

export interface LogSink {
  write(line: string, level: LogLevel): void;
}

const stderrSink: LogSink = {
  write(line, level) {
    (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(line + '\n');
  },
};

export interface LoggerOptions {
  level?: LogLevel;
  /** 'json' (one object a line) or 'pretty' (human); default json unless stdout is a TTY. */
  format?: 'json' | 'pretty';
  sink?: LogSink;
}

export class Logger {
  private readonly threshold: number;
  constructor(
    readonly context: string,
    private readonly options: LoggerOptions = {},
  ) {
    this.threshold = ORDER[options.level ?? 'info'];
  }

  child(context: string): Logger {
    return new Logger(`${this.context}:${context}`, this.options);
  }

  isEnabled(level: LogLevel): boolean {
    return ORDER[level] >= this.threshold;
  }

  debug(msg: string, fields?: Record<string, unknown>) {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>) {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>) {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown> | Error) {
    this.log('error', msg, fields instanceof Error ? { err: fields } : fields);
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>) {
    if (!this.isEnabled(level)) return;
    const safe = fields ? (redact(fields) as Record<string, unknown>) : undefined;
    const format = this.options.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
    const time = new Date().toISOString();
    const line =
      format === 'json'
        ? JSON.stringify({ time, level, context: this.context, msg: redactString(msg), ...safe })
        : `${time} ${level.toUpperCase().padEnd(5)} [${this.context}] ${redactString(msg)}${safe && Object.keys(safe).length ? ' ' + JSON.stringify(safe) : ''}`;
    (this.options.sink ?? stderrSink).write(line, level);
  }
}

export function createLogger(context: string, options: LoggerOptions = {}): Logger {
  return new Logger(context, options);
}

/** Routes NestJS framework logging through a CLARA Logger (and so through redaction). */
export class NestLoggerAdapter implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, ...rest: unknown[]) {
    this.logger.info(String(message), ctx(rest));
  }
  error(message: unknown, ...rest: unknown[]) {
    this.logger.error(String(message), ctx(rest));
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.logger.warn(String(message), ctx(rest));
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.logger.debug(String(message), ctx(rest));
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.logger.debug(String(message), ctx(rest));
  }
}

function ctx(rest: unknown[]): Record<string, unknown> | undefined {
  const parts = rest.filter((r) => r !== undefined);
  if (parts.length === 0) return undefined;
  return parts.length === 1 && typeof parts[0] === 'string' ? { nest: parts[0] } : { details: parts };
}
