// The training API in `testing` security mode (RS256 tokens from a local key, same validation as Keycloak):
// 401 without/with a bad token, 403 for a missing role, tokens over WebSocket (subprotocol and query parameter).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthConfig, mintTestToken, type AuthConfig } from '@clara/auth';
import { InProcessBus, acquireDataSource, createLogger, type SharedDataSource } from '@clara/platform';
import { createTestDatabase, type TestDatabase } from '@clara/platform/testing';
import { bootstrap, type TrainingApp } from '../src/index.js';
import { WsClient, http } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-auth-e2e-'));
const logger = createLogger('auth-e2e', { level: 'error' });
let db: TestDatabase;
let shared: SharedDataSource;
let api: TrainingApp;
let auth: AuthConfig;
const bus = new InProcessBus();
const job = { trainer_type: 'lora', base_model: 'tiny', dataset: 'dsv_x' };

beforeAll(async () => {
  db = await createTestDatabase('training_auth');
  shared = await acquireDataSource({ url: db.url, logger });
  const env = {
    DATABASE_URL: db.url, CLARA_DATA_DIR: dataDir, CLARA_TRAINING_PORT: '0', CLARA_TRAINING_HOST: '127.0.0.1',
    CLARA_SECURITY_MODE: 'testing', KEYCLOAK_URL: 'http://keycloak.test', KEYCLOAK_REALM: 'vcc', KEYCLOAK_CLIENT_ID: 'clara-training-system', LOG_LEVEL: 'error',
  };
  auth = loadAuthConfig(env);
  api = await bootstrap({ env, bus, db: shared, logger, auth });
});
afterAll(async () => {
  await api?.close();
  await bus.close();
  await shared?.release();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('training API security (testing mode)', () => {
  it('keeps /health public and requires a valid token elsewhere', async () => {
    expect((await http(api.url, 'GET', '/health')).status).toBe(200);
    expect((await http(api.url, 'GET', '/api/training/jobs/list')).status).toBe(401);
    expect((await http(api.url, 'POST', '/api/training/jobs', job)).status).toBe(401);
    const expired = await mintTestToken(auth, { roles: ['admin'], expiresInSec: -60 });
    expect((await http(api.url, 'GET', '/api/training/jobs/list', undefined, bearer(expired))).status).toBe(401);
  });

  it('lets trainers create and cancel, analysts only read (403)', async () => {
    const trainer = await mintTestToken(auth, { roles: ['trainer'], email: 'tina@clara.local' });
    const analyst = await mintTestToken(auth, { roles: ['analyst'], email: 'ann@clara.local' });
    const created = await http(api.url, 'POST', '/api/training/jobs', job, bearer(trainer));
    expect(created.status).toBe(201);
    expect(created.body.data.created_by).toBe('tina@clara.local');
    const denied = await http(api.url, 'POST', '/api/training/jobs', job, bearer(analyst));
    expect(denied.status).toBe(403);
    expect((await http(api.url, 'DELETE', `/api/training/jobs/${created.body.job_id}`, undefined, bearer(analyst))).status).toBe(403);
    expect((await http(api.url, 'GET', `/api/training/jobs/${created.body.job_id}`, undefined, bearer(analyst))).status).toBe(200);
    expect((await http(api.url, 'GET', '/api/training/jobs/list?created_by=tina@clara.local', undefined, bearer(analyst))).body.count).toBe(1);
    expect((await http(api.url, 'DELETE', `/api/training/jobs/${created.body.job_id}`, undefined, bearer(trainer))).status).toBe(200);
  });

  it('authenticates WebSocket handshakes by subprotocol or access_token, refusing none or bad', async () => {
    const url = api.url.replace('http', 'ws') + '/ws/training';
    await expect(WsClient.connect(url)).rejects.toMatchObject({ status: 401 });
    await expect(WsClient.connect(`${url}?access_token=not-a-jwt`)).rejects.toMatchObject({ status: 401 });
    const token = await mintTestToken(auth, { roles: ['analyst'], email: 'ann@clara.local' });
    const a = await WsClient.connect(url, ['bearer', token]);
    expect(a.ws.protocol).toBe('bearer'); // the token is never echoed back
    await a.waitFor((c) => c.messages.find((m) => m.type === 'welcome' && m.user === 'ann@clara.local'));
    a.close();
    const b = await WsClient.connect(`${url}?access_token=${token}`);
    await b.waitFor((c) => c.messages.find((m) => m.type === 'welcome'));
    b.close();
    const noRole = await mintTestToken(auth, { roles: [] });
    await expect(WsClient.connect(url, ['bearer', noRole])).rejects.toMatchObject({ status: 403 });
  });
});
