import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import {
  BEARER_SCHEME,
  authenticateWebSocket,
  writeTestingKeyFile,
  AuthService,
  loadAuthConfig,
  mintTestToken,
  selectWebSocketProtocol,
  webSocketRejection,
  type AuthUser,
} from '../src/index.js';
import { bootDemoApp, waitForAudit } from './nest-app.js';
import { startOidcProvider, type OidcFixture } from './oidc-fixture.js';

async function call(baseUrl: string, method: string, path: string, token?: string, body?: unknown) {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}

describe('AuthModule guard on a Nest app (development mode, real OIDC provider)', () => {
  let idp: OidcFixture;
  let demo: Awaited<ReturnType<typeof bootDemoApp>>;

  beforeAll(async () => {
    idp = await startOidcProvider({
      clients: [
        { clientId: 'clara-training-system', realmRoles: ['trainer'] },
        { clientId: 'clara-analyst-ui', clientRoles: ['analyst'] },
      ],
    });
    demo = await bootDemoApp(idp.config());
  });
  afterAll(async () => {
    await demo?.app.close();
    await idp?.close();
  });

  it('public route needs no token', async () => {
    expect((await call(demo.baseUrl, 'GET', '/health')).status).toBe(200);
  });

  it('401 JSON for no token and for a bad token, with a Bearer challenge; undecorated routes are denied too', async () => {
    const none = await call(demo.baseUrl, 'GET', '/api/training/jobs/1');
    expect(none.status).toBe(401);
    expect(none.json).toMatchObject({ statusCode: 401, error: 'Unauthorized', reason: 'missing_token' });
    expect(none.headers.get('www-authenticate')).toBe('Bearer');

    const expired = await call(demo.baseUrl, 'GET', '/api/training/jobs/1', await idp.sign({ exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(expired.status).toBe(401);
    expect(expired.json.message).toMatch(/expired/);
    expect(expired.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    expect((await call(demo.baseUrl, 'GET', '/api/undecorated')).status).toBe(401);

    // attacker-chosen header values end up quoted, shortened and header-safe: still a 401, never a 500
    const hostileKid = await idp.sign({}, { header: { kid: `€\r\nSet-Cookie: x=1${'k'.repeat(500)}` } });
    const hostile = await call(demo.baseUrl, 'GET', '/api/training/jobs/1', hostileKid);
    expect(hostile.status).toBe(401);
    expect(hostile.json.message).toMatch(/unknown key id "\?\\r\\nSet-Cookie: x=1k+\.\.\."/);
    expect(hostile.headers.get('set-cookie')).toBeNull();
  });

  it('valid token → 200 and @Auth() gives the user', async () => {
    const token = await idp.token('clara-analyst-ui');
    const res = await call(demo.baseUrl, 'GET', '/api/training/jobs/42', token);
    expect(res.status).toBe(200);
    expect(res.json.user).toMatchObject({ sub: 'clara-analyst-ui', roles: ['analyst'], email: 'clara-analyst-ui@clients.clara.local' });
  });

  it('403 JSON for a missing role or permission; 201/200 with it; every mutation is audited without the token', async () => {
    const analyst = await idp.token('clara-analyst-ui');
    const trainer = await idp.token('clara-training-system');
    demo.audit.length = 0;

    const denied = await call(demo.baseUrl, 'POST', '/api/training/jobs?access_token=leak', analyst, { trainer_type: 'lora' });
    expect(denied.status).toBe(403);
    expect(denied.json).toMatchObject({ statusCode: 403, error: 'Forbidden' });
    expect(denied.json.message).toMatch(/admin, trainer/);
    expect((await call(demo.baseUrl, 'DELETE', '/api/training/jobs/7', analyst)).status).toBe(403);

    const created = await call(demo.baseUrl, 'POST', '/api/training/jobs', trainer, { trainer_type: 'lora' });
    expect(created.status).toBe(201);
    expect(created.json.created_by).toBe('clara-training-system@clients.clara.local');
    expect((await call(demo.baseUrl, 'DELETE', '/api/training/jobs/7', trainer)).status).toBe(200);
    expect((await call(demo.baseUrl, 'POST', '/api/training/jobs', undefined, {})).status).toBe(401);
    await call(demo.baseUrl, 'GET', '/api/training/jobs/1', trainer); // reads are not audited

    await waitForAudit(demo.audit, 5);
    expect(demo.audit.map((e) => [e.method, e.path, e.status, e.actor])).toEqual([
      ['POST', '/api/training/jobs', 403, 'clara-analyst-ui@clients.clara.local'],
      ['DELETE', '/api/training/jobs/7', 403, 'clara-analyst-ui@clients.clara.local'],
      ['POST', '/api/training/jobs', 201, 'clara-training-system@clients.clara.local'],
      ['DELETE', '/api/training/jobs/7', 200, 'clara-training-system@clients.clara.local'],
      ['POST', '/api/training/jobs', 401, null],
    ]);
    const text = JSON.stringify(demo.audit);
    expect(text).not.toContain(analyst.split('.')[1]);
    expect(text).not.toContain(trainer.split('.')[1]);
    expect(text).not.toContain('leak');
    for (const entry of demo.audit) expect(Date.parse(entry.at)).not.toBeNaN();
  });
});

describe('testing and debug modes', () => {
  it('testing mode: tokens minted with the local key pass the same checks; others fail', async () => {
    const config = loadAuthConfig({ CLARA_SECURITY_MODE: 'testing' });
    const demo = await bootDemoApp(config);
    try {
      const trainer = await mintTestToken(config, { email: 'tina@clara.local', roles: ['trainer'] });
      expect((await call(demo.baseUrl, 'POST', '/api/training/jobs', trainer, { a: 1 })).json.created_by).toBe('tina@clara.local');
      const analyst = await mintTestToken(config, { clientRoles: ['analyst'] });
      expect((await call(demo.baseUrl, 'POST', '/api/training/jobs', analyst, {})).status).toBe(403);
      const expired = await mintTestToken(config, { roles: ['admin'], expiresInSec: -60 });
      expect((await call(demo.baseUrl, 'POST', '/api/training/jobs', expired, {})).status).toBe(401);
      const foreignIssuer = await mintTestToken(config, { roles: ['admin'], issuer: 'http://evil/realms/vcc' });
      expect((await call(demo.baseUrl, 'POST', '/api/training/jobs', foreignIssuer, {})).status).toBe(401);
    } finally {
      await demo.app.close();
    }
  });

  it('testing mode with CLARA_TEST_JWT_KEY_FILE: tokens minted from the key file verify, tokens from another key are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clara-testkey-'));
    try {
      const file = join(dir, 'jwt.pem');
      writeTestingKeyFile(file);
      const service = new AuthService(loadAuthConfig({ CLARA_SECURITY_MODE: 'testing', CLARA_TEST_JWT_KEY_FILE: file }));
      const fromFile = await mintTestToken(loadAuthConfig({ CLARA_SECURITY_MODE: 'testing', CLARA_TEST_JWT_KEY_FILE: file }), { sub: 'file-user' });
      expect((await service.authenticate({ token: fromFile })).sub).toBe('file-user');
      const fromGeneratedKey = await mintTestToken(loadAuthConfig({ CLARA_SECURITY_MODE: 'testing' }));
      await expect(service.authenticate({ token: fromGeneratedKey })).rejects.toThrow(/unknown key id/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('OpenAPI: @Authenticated routes declare bearer auth and 401/403, @Public routes none', async () => {
    const demo = await bootDemoApp(loadAuthConfig({ CLARA_SECURITY_MODE: 'testing' }));
    try {
      const doc = SwaggerModule.createDocument(demo.app, new DocumentBuilder().addBearerAuth(undefined, BEARER_SCHEME).build());
      const create = doc.paths['/api/training/jobs'].post!;
      expect(create.security).toEqual([{ [BEARER_SCHEME]: [] }]);
      expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['401', '403']));
      expect(String((create.responses['403'] as { description: string }).description)).toContain('admin, trainer');
      expect(doc.paths['/health'].get!.security).toBeUndefined();
      expect(doc.components?.securitySchemes?.[BEARER_SCHEME]).toMatchObject({ type: 'http', scheme: 'bearer' });
    } finally {
      await demo.app.close();
    }
  });

  it('identity provider unreachable → 503 JSON (an outage, not the caller\'s fault), and the service still starts', async () => {
    const config = loadAuthConfig({ CLARA_SECURITY_MODE: 'development', KEYCLOAK_URL: 'http://127.0.0.1:9', KEYCLOAK_REALM: 'clara' });
    const demo = await bootDemoApp(config);
    try {
      const token = await mintTestToken(config, { roles: ['admin'] });
      const res = await call(demo.baseUrl, 'GET', '/api/training/jobs/1', token);
      expect(res.status).toBe(503);
      expect(res.json.message).toMatch(/identity provider unavailable: OIDC discovery at http:\/\/127\.0\.0\.1:9\/realms\/clara/);
      expect((await call(demo.baseUrl, 'GET', '/health')).status).toBe(200);
    } finally {
      await demo.app.close();
    }
  });

  it('debug mode: no token needed, the mock user from DEBUG_USER_* is used', async () => {
    const demo = await bootDemoApp(loadAuthConfig({ CLARA_SECURITY_MODE: 'debug', DEBUG_USER_EMAIL: 'dev@x.local', DEBUG_USER_ROLES: 'analyst' }));
    try {
      const got = await call(demo.baseUrl, 'GET', '/api/training/jobs/1');
      expect(got.json.user).toEqual({ sub: 'debug', email: 'dev@x.local', roles: ['analyst'], via: 'debug' });
      expect((await call(demo.baseUrl, 'POST', '/api/training/jobs', undefined, {})).status).toBe(403); // RBAC still applies to the mock user
    } finally {
      await demo.app.close();
    }
  });
});

describe('WebSocket handshake helper', () => {
  let server: http.Server;
  let url: string;
  const config = loadAuthConfig({ CLARA_SECURITY_MODE: 'testing' });
  const auth = new AuthService(config);

  beforeAll(async () => {
    server = http.createServer();
    const wss = new WebSocketServer({
      server,
      handleProtocols: selectWebSocketProtocol,
      verifyClient: (info, done) => {
        authenticateWebSocket(auth, info.req).then(
          (user) => {
            (info.req as { user?: AuthUser }).user = user;
            done(true);
          },
          (error) => {
            const { status, message } = webSocketRejection(error);
            done(false, status, message);
          },
        );
      },
    });
    wss.on('connection', (socket, req) => socket.send(JSON.stringify((req as { user?: AuthUser }).user)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/training`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const open = (target: string, protocols?: string[]) =>
    new Promise<{ user?: AuthUser; protocol?: string; status?: number }>((resolve) => {
      const ws = new WebSocket(target, protocols);
      ws.once('message', (data) => {
        resolve({ user: JSON.parse(String(data)), protocol: ws.protocol });
        ws.close();
      });
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    });

  it('accepts a token in the bearer subprotocol pair and answers with "bearer", not the token', async () => {
    const token = await mintTestToken(config, { sub: 'ws-user', roles: ['analyst'] });
    const result = await open(url, ['bearer', token]);
    expect(result.user).toMatchObject({ sub: 'ws-user', roles: ['analyst'] });
    expect(result.protocol).toBe('bearer');
  });

  it('accepts an access_token query parameter', async () => {
    const token = await mintTestToken(config, { sub: 'query-user' });
    expect((await open(`${url}?access_token=${token}`)).user?.sub).toBe('query-user');
  });

  it('refuses the upgrade with 401 without or with a bad token', async () => {
    expect((await open(url)).status).toBe(401);
    expect((await open(url, ['bearer', 'garbage.token.here'])).status).toBe(401);
    const expired = await mintTestToken(config, { expiresInSec: -120 });
    expect((await open(`${url}?access_token=${expired}`)).status).toBe(401);
  });
});
