import { describe, expect, it } from 'vitest';
import { Logger, NestLoggerAdapter, redact } from './logger.js';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: string[] = [];
  const logger = new Logger('test', { level, format: 'json', sink: { write: (l) => lines.push(l) } });
  return { logger, lines };
}

describe('logger', () => {
  it('redacts secret fields at any depth and keeps the rest', () => {
    const { logger, lines } = capture();
    logger.info('login', {
      user: 'ann',
      token: 'eyJhbGciOi.abc.def',
      nested: { Authorization: 'Bearer xyz', list: [{ password: 'p4ss' }], clientSecret: 's3' },
      apiKey: 'k',
    });
    const out = lines.join('\n');
    for (const secret of ['eyJhbGciOi', 'xyz', 'p4ss', 's3"', '"k"']) expect(out).not.toContain(secret);
    const parsed = JSON.parse(lines[0]);
    expect(parsed.user).toBe('ann');
    expect(parsed.nested.list[0].password).toBe('[redacted]');
  });

  it('masks credentials in URLs and bearer tokens inside messages', () => {
    const { logger, lines } = capture();
    logger.error('cannot connect to postgres://clara:topsecret@db:5432/x with Bearer abc.def.ghi');
    expect(lines[0]).not.toContain('topsecret');
    expect(lines[0]).not.toContain('abc.def.ghi');
    expect(lines[0]).toContain('postgres://clara:[redacted]@db:5432/x');
  });

  it('serialises errors with redacted messages', () => {
    expect(redact(new Error('token nats://u:pw@h'))).toMatchObject({ name: 'Error', message: 'token nats://u:[redacted]@h' });
  });

  it('drops messages below the level', () => {
    const { logger, lines } = capture('info');
    logger.debug('hidden');
    logger.warn('shown');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });

  it('routes Nest messages through redaction', () => {
    const { logger, lines } = capture();
    new NestLoggerAdapter(logger).log('Mapped {/api, GET} route', 'RouterExplorer');
    expect(JSON.parse(lines[0])).toMatchObject({ msg: 'Mapped {/api, GET} route', nest: 'RouterExplorer', level: 'info' });
  });
});
