import { describe, expect, it } from 'vitest';
import { AuthService } from './auth.service.js';
import { loadAuthConfig } from './config.js';
import { Permission } from './permissions.js';
import { authenticateWebSocket, extractWebSocketToken, selectWebSocketProtocol, webSocketRejection } from './websocket.js';

describe('WebSocket token extraction', () => {
  const req = (protocol: string | undefined, url = '/ws/training') => ({ headers: protocol === undefined ? {} : { 'sec-websocket-protocol': protocol }, url });

  it('reads the token following the bearer subprotocol, in any case and spacing', () => {
    expect(extractWebSocketToken(req('bearer, abc.def.ghi'))).toBe('abc.def.ghi');
    expect(extractWebSocketToken(req('json,Bearer,abc.def.ghi'))).toBe('abc.def.ghi');
  });

  it('falls back to the access_token query parameter; nothing → undefined', () => {
    expect(extractWebSocketToken(req(undefined, '/ws/training?x=1&access_token=q.r.s'))).toBe('q.r.s');
    expect(extractWebSocketToken(req('bearer'))).toBeUndefined(); // the marker without a token
    expect(extractWebSocketToken(req(undefined))).toBeUndefined();
  });

  it('answers with the bearer marker, never with the token', () => {
    expect(selectWebSocketProtocol(new Set(['bearer', 'abc.def.ghi']))).toBe('bearer');
    expect(selectWebSocketProtocol(new Set(['json']))).toBe('json');
    expect(selectWebSocketProtocol(new Set())).toBe(false);
  });
});

describe('authenticateWebSocket', () => {
  const upgrade = (headers: Record<string, string>, url = '/ws/training') => ({ headers, url, socket: undefined }) as never;

  it('debug mode: the mock user, no token needed; RBAC still applies', async () => {
    const auth = new AuthService(loadAuthConfig({ CLARA_SECURITY_MODE: 'debug', DEBUG_USER_ROLES: 'analyst' }));
    expect(await authenticateWebSocket(auth, upgrade({}), { permission: Permission.TrainingJobRead })).toMatchObject({ via: 'debug', roles: ['analyst'] });
    const denied = await authenticateWebSocket(auth, upgrade({}), { permission: Permission.TrainingJobCreate }).catch((e: unknown) => e);
    expect(webSocketRejection(denied).status).toBe(403);
  });

  it('testing mode: no token → 401', async () => {
    const auth = new AuthService(loadAuthConfig({ CLARA_SECURITY_MODE: 'testing' }));
    const error = await authenticateWebSocket(auth, upgrade({})).catch((e: unknown) => e);
    expect(webSocketRejection(error)).toEqual({ status: 401, message: expect.stringMatching(/missing bearer token/) });
  });
});
