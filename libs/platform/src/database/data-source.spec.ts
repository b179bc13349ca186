import { describe, expect, it } from 'vitest';
import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable } from './data-source.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['server not listening', pgError('ECONNREFUSED')],
    ['connection reset', pgError('ECONNRESET')],
    ['terminated by an administrator (57P01)', pgError('57P01')],
    ['server starting up (57P03)', pgError('57P03')],
    ['connection exception class 08', pgError('08006')],
    ['socket closed mid-query', new Error('Connection terminated unexpectedly')],
    ['wrapped by TypeORM', new QueryFailedError('SELECT 1', [], pgError('ECONNRESET'))],
  ])('%s → true', (_what, err) => expect(isDatabaseUnavailable(err)).toBe(true));

  it.each([
    ['unique violation', pgError('23505')],
    ['syntax error', new QueryFailedError('SELEC 1', [], pgError('42601'))],
    ['a plain error', new Error('boom')],
    ['not an error', undefined],
  ])('%s → false', (_what, err) => expect(isDatabaseUnavailable(err)).toBe(false));
});
