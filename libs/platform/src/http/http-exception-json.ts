/**
 * The JSON body every CLARA app answers a Nest HttpException with: `{ statusCode, error, message, ...details }`,
 * where `message` is one string (class-validator's message arrays are joined with '; '). Shared by the apps'
 * exception filters so their error shape cannot drift apart.
 */
import { HttpException, HttpStatus } from '@nestjs/common';

export interface HttpErrorJson {
  statusCode: number;
  error: string;
  message?: unknown;
  [detail: string]: unknown;
}

export function httpExceptionJson(exception: HttpException): { status: number; payload: HttpErrorJson } {
  const status = exception.getStatus();
  const body = exception.getResponse();
  const payload: HttpErrorJson =
    typeof body === 'string'
      ? { statusCode: status, error: HttpStatus[status] ?? 'Error', message: body }
      : { statusCode: status, error: (body as { error?: string }).error ?? HttpStatus[status] ?? 'Error', ...(body as object) };
  if (Array.isArray(payload.message)) payload.message = payload.message.join('; ');
  return { status, payload };
}
