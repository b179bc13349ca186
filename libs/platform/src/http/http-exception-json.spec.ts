import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { httpExceptionJson } from './http-exception-json.js';

describe('httpExceptionJson', () => {
  it('answers a string response with status, reason phrase and message', () => {
    expect(httpExceptionJson(new HttpException('slow down', 429))).toEqual({
      status: 429,
      payload: { statusCode: 429, error: 'TOO_MANY_REQUESTS', message: 'slow down' },
    });
  });

  it('keeps an object response and its details, joining message arrays into one string', () => {
    const { status, payload } = httpExceptionJson(new BadRequestException({ message: ['a is wrong', 'b is missing'], errors: [{ field: 'a' }] }));
    expect(status).toBe(400);
    expect(payload).toEqual({ statusCode: 400, error: 'BAD_REQUEST', message: 'a is wrong; b is missing', errors: [{ field: 'a' }] });
  });

  it("prefers the response's own error label", () => {
    expect(httpExceptionJson(new NotFoundException('no job 42')).payload).toMatchObject({ statusCode: 404, error: 'Not Found', message: 'no job 42' });
  });
});
