import { describe, expect, it, vi } from 'vitest';
import { ConfigError, baseConfigSchema, dataDirs, port, readConfig } from './config.js';

describe('readConfig', () => {
  const schema = { ...baseConfigSchema, CLARA_TRAINING_PORT: port({ default: 45680 }) };

  it('applies defaults when nothing is set', () => {
    const c = readConfig(schema, { env: {}, exitOnError: false });
    expect(c.CLARA_TRAINING_PORT).toBe(45680);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.NATS_URL).toBeUndefined();
    expect(c.CLARA_DATA_DIR).toBe('./data');
    expect(c.LOG_LEVEL).toBe('info');
  });

  it('treats empty values as unset', () => {
    const c = readConfig(schema, { env: { DATABASE_URL: '', NATS_URL: ' ', CLARA_TRAINING_PORT: '' }, exitOnError: false });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.NATS_URL).toBeUndefined();
    expect(c.CLARA_TRAINING_PORT).toBe(45680);
  });

  it('accepts the seed spelling of log levels', () => {
    expect(readConfig(schema, { env: { LOG_LEVEL: 'WARNING' }, exitOnError: false }).LOG_LEVEL).toBe('warn');
  });

  it('names every bad variable in the error', () => {
    let error: ConfigError | undefined;
    try {
      readConfig(schema, { env: { CLARA_TRAINING_PORT: 'abc', DATABASE_URL: 'mysql://x', NATS_URL: 'not a url' }, exitOnError: false });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(Object.keys(error!.variables).sort()).toEqual(['CLARA_TRAINING_PORT', 'DATABASE_URL', 'NATS_URL']);
    expect(error!.message).toContain('CLARA_TRAINING_PORT');
    expect(error!.message).toContain('"abc"');
  });

  it('never echoes the value of a secret-looking variable', () => {
    const s = { CLARA_JWT_SECRET: port() };
    expect(() => readConfig(s, { env: { CLARA_JWT_SECRET: 'hunter2' }, exitOnError: false })).toThrow(/CLARA_JWT_SECRET.*\*\*\*/);
    expect(() => readConfig(s, { env: { CLARA_JWT_SECRET: 'hunter2' }, exitOnError: false })).not.toThrow(/hunter2/);
  });

  it('stops the process with the message by default', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(() => readConfig(schema, { env: { CLARA_TRAINING_PORT: '99999' } })).toThrow('exit 1');
      expect(String(write.mock.calls[0][0])).toContain('CLARA_TRAINING_PORT');
    } finally {
      exit.mockRestore();
      write.mockRestore();
    }
  });

  it('derives absolute data directories', () => {
    const d = dataDirs({ CLARA_DATA_DIR: '/tmp/x', CLARA_MODELS_DIR: '' });
    expect(d).toEqual({ dataDir: '/tmp/x', modelsDir: '/tmp/x/models', pgDir: '/tmp/x/pg' });
  });
});
