import { describe, expect, it } from 'vitest';
import { extractWebSocketToken, selectWebSocketProtocol } from './websocket.js';

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
