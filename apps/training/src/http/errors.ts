/**
 * Every error leaves as JSON `{ statusCode, error, message, errors? }`; bad input is a 4xx naming the field,
 * never a 500. Body-parser failures (malformed JSON, > 1 MB) are turned into 400/413 here too.
 */
import {
  ArgumentsHost,
  BadRequestException,
  Catch,
  HttpException,
  type ExceptionFilter,
  type ValidationError,
} from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { httpExceptionJson, isDatabaseUnavailable, type Logger } from '@clara/platform';

export interface FieldError {
  field: string;
  messages: string[];
}

/** Flattens class-validator errors into `a.b.c: message` entries. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    if (e.constraints) {
      // forbidNonWhitelisted: "property x should not exist" — say which field is unknown, with its path.
      const messages = Object.entries(e.constraints).map(([rule, m]) =>
        rule === 'whitelistValidation' ? `unknown field ${field}` : prefix ? m.replace(new RegExp(`^${e.property}\\b`), field) : m,
      );
      out.push({ field, messages });
    }
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

export function validationException(errors: ValidationError[]): BadRequestException {
  const fields = flattenValidationErrors(errors);
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: fields.flatMap((f) => f.messages).join('; '),
    errors: fields,
  });
}

@Catch()
export class JsonExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() !== 'http') return;
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    if (res.headersSent) return;
    if (exception instanceof HttpException) {
      const { status, payload } = httpExceptionJson(exception);
      res.status(status).json(payload);
      return;
    }
    if (isDatabaseUnavailable(exception)) {
      // PostgreSQL down or restarting: nothing was accepted; the client should retry (the request is not at fault).
      this.logger.warn('database unavailable', { method: req.method, path: req.path, err: exception as Error });
      res.setHeader('Retry-After', '2');
      res.status(503).json({ statusCode: 503, error: 'Service Unavailable', message: 'database unavailable; retry shortly' });
      return;
    }
    this.logger.error('unhandled error', { method: req.method, path: req.path, err: exception as Error });
    res.status(500).json({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
  }
}

/** What body-parser's errors (http-errors) carry that the handler reads. */
interface BodyParserError {
  type?: string;
  limit?: number;
  status?: number;
  message?: string;
}

/** Express error middleware for failures before Nest routing (body parser). */
export function bodyParserErrorHandler(err: BodyParserError | null | undefined, _req: Request, res: Response, next: NextFunction) {
  if (!err) return next();
  if (err.type === 'entity.too.large') {
    return res.status(413).json({ statusCode: 413, error: 'Payload Too Large', message: `request body exceeds ${err.limit} bytes` });
  }
  if (err.type === 'entity.parse.failed') {
    return res.status(400).json({ statusCode: 400, error: 'Bad Request', message: `malformed JSON body: ${String(err.message).slice(0, 200)}` });
  }
  if (err.type === 'encoding.unsupported' || err.type === 'charset.unsupported') {
    return res.status(415).json({ statusCode: 415, error: 'Unsupported Media Type', message: String(err.message) });
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return res.status(err.status).json({ statusCode: err.status, error: 'Bad Request', message: String(err.message) });
  }
  return next(err);
}
