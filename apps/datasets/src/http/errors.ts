/**
 * Every error leaves as JSON `{ statusCode, error, message, field? }`. UDS3 input errors → 400 naming the
 * field, unknown ids → 404, upload limits → 400 naming `files`; anything else is logged and answered 500.
 */
import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { httpExceptionJson, type Logger } from '@clara/platform';
import { Uds3InputError, Uds3NotFoundError } from '@clara/uds3';

export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof Uds3InputError) return 400;
  if (err instanceof Uds3NotFoundError) return 404;
  if (err instanceof HttpException) return err.getStatus();
  return undefined;
}

@Catch()
export class DatasetsExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() !== 'http') return;
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    if (res.headersSent) return;
    if (exception instanceof Uds3InputError) {
      res.status(400).json({ statusCode: 400, error: 'Bad Request', message: exception.message, field: exception.field });
      return;
    }
    if (exception instanceof Uds3NotFoundError) {
      res.status(404).json({ statusCode: 404, error: 'Not Found', message: exception.message });
      return;
    }
    if (exception instanceof HttpException) {
      const { status, payload } = httpExceptionJson(exception);
      // multer's limit errors arrive as 413 PayloadTooLarge: the contract is a 400 naming the field
      if (status === 413) {
        res.status(400).json({ statusCode: 400, error: 'Bad Request', message: `files: ${payload.message ?? 'upload too large'}`, field: 'files' });
        return;
      }
      res.status(status).json(payload);
      return;
    }
    this.logger.error('unhandled error', { method: req.method, path: req.path, err: exception as Error });
    res.status(500).json({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
  }
}

/** Body-parser failures (malformed JSON, too large) as 400 naming the body. */
export function bodyParserErrorHandler(err: { type?: string; limit?: number; message?: string; status?: number } | undefined, _req: Request, res: Response, next: NextFunction) {
  if (!err) return next();
  if (err.type === 'entity.too.large') {
    return res.status(400).json({ statusCode: 400, error: 'Bad Request', field: 'body', message: `body: exceeds the upload limit of ${err.limit} bytes` });
  }
  if (err.type === 'entity.parse.failed' || (err as unknown) instanceof SyntaxError) {
    return res.status(400).json({ statusCode: 400, error: 'Bad Request', field: 'body', message: `body: malformed JSON (${err.message})` });
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return res.status(err.status).json({ statusCode: err.status, error: 'Bad Request', field: 'body', message: `body: ${err.message}` });
  }
  return next(err);
}
