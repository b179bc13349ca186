/** OpenAI's error shape for every failure: `{ error: { message, type, param, code } }`. */
import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { AdapterError } from '@clara/engine/inference/index';
import type { OpenAIErrorBody } from '@clara/contracts';

export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type = status === 404 ? 'invalid_request_error' : status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
    this.name = 'OpenAIError';
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (param: string, message: string) => new OpenAIError(400, message, param, 'invalid_value');

/** Maps anything thrown to an OpenAIError. */
export function toOpenAIError(err: unknown): OpenAIError {
  if (err instanceof OpenAIError) return err;
  if (err instanceof AdapterError) return new OpenAIError(err.status, err.message, err.status === 404 ? 'model' : null, err.code);
  if (err instanceof HttpException) {
    const status = err.getStatus();
    // body-parser errors (malformed JSON, body too large) arrive wrapped with the original as cause
    const cause = err.cause as { type?: string } | undefined;
    if (cause instanceof SyntaxError || cause?.type === 'entity.parse.failed' || cause?.type === 'entity.too.large') {
      return new OpenAIError(status, `request body: ${err.message}`, 'body', cause instanceof SyntaxError ? 'invalid_json' : (cause.type ?? null));
    }
    const res = err.getResponse() as { message?: string | string[] } | string;
    const message = typeof res === 'string' ? res : Array.isArray(res.message) ? res.message.join('; ') : (res.message ?? err.message);
    const type = status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : status === 404 ? 'invalid_request_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
    return new OpenAIError(status, message, null, null, type);
  }
  const e = err as { status?: number; statusCode?: number; type?: string; message?: string };
  // body-parser: malformed JSON or a body too large
  if (e && (e.type === 'entity.parse.failed' || e.type === 'entity.too.large')) {
    return new OpenAIError(e.status ?? 400, `request body: ${e.message}`, 'body', e.type);
  }
  return new OpenAIError(500, 'internal error', null, null, 'server_error');
}

@Catch()
export class OpenAIErrorFilter implements ExceptionFilter {
  constructor(private readonly onInternal?: (err: unknown) => void) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const error = toOpenAIError(exception);
    if (error.status >= 500) this.onInternal?.(exception);
    if (res.headersSent) {
      // mid-stream: send the error as an SSE event, then end
      res.write(`data: ${JSON.stringify(error.body())}\n\n`);
      res.end();
      return;
    }
    res.status(error.status).json(error.body());
  }
}
