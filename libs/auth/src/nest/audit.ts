import { Inject, Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthUser } from '../auth-user.js';
import { verifiedClientCertSubject } from '../mtls.js';

/** One line per mutation. Contains no token, no body, no query string (a query may carry access_token). */
export interface AuditEntry {
  at: string;
  actor: string | null;
  sub: string | null;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  ip: string | undefined;
  clientCertSubject?: string;
}

export interface AuditSink {
  write(entry: AuditEntry): void;
}

export const AUDIT_SINK = Symbol('AUDIT_SINK');

/** Default sink: a JSON line through the Nest logger, context "Audit". */
export class LoggerAuditSink implements AuditSink {
  private readonly logger = new Logger('Audit');
  write(entry: AuditEntry): void {
    this.logger.log(JSON.stringify(entry));
  }
}

const MUTATIONS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A middleware (not an interceptor) so that rejected mutations — 401, 403, 400 from validation — are
 * audited too: it writes when the response finishes, after the guard has set `request.user`.
 */
@Injectable()
export class AuditMiddleware implements NestMiddleware {
  constructor(@Inject(AUDIT_SINK) private readonly sink: AuditSink) {}

  use(req: IncomingMessage & { user?: AuthUser; originalUrl?: string }, res: ServerResponse, next: () => void): void {
    const method = (req.method ?? '').toUpperCase();
    if (!MUTATIONS.has(method)) return next();
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const user = req.user;
      const subject = user?.clientCertSubject ?? verifiedClientCertSubject(req.socket);
      this.sink.write({
        at: new Date().toISOString(),
        actor: user?.email ?? null,
        sub: user?.sub ?? null,
        method,
        path: (req.originalUrl ?? req.url ?? '').split('?')[0],
        status: res.statusCode,
        durationMs: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
        ip: req.socket?.remoteAddress,
        ...(subject ? { clientCertSubject: subject } : {}),
      });
    });
    next();
  }
}
