/**
 * WebSocket handshake authentication with the same verifier as HTTP. Browsers cannot set Authorization on a
 * WebSocket, so the token comes as a subprotocol pair (`new WebSocket(url, ['bearer', token])`) or an
 * `access_token` query parameter. Debug mode (JWT off) → the mock user.
 *
 *   new WebSocketServer({ server, handleProtocols: selectWebSocketProtocol,
 *     verifyClient: (info, done) => authenticateWebSocket(auth, info.req).then(u => { info.req.user = u; done(true) },
 *       e => done(false, webSocketRejection(e).status, webSocketRejection(e).message)) })
 */
import type { IncomingMessage } from 'node:http';
import type { AuthService } from './auth.service.js';
import type { AuthUser } from './auth-user.js';
import { AuthenticationError, ForbiddenError, IdentityProviderUnavailableError } from './errors.js';
import type { AccessRequirement } from './auth.service.js';

export const BEARER_SUBPROTOCOL = 'bearer';

/** Token from `Sec-WebSocket-Protocol: bearer, <token>` or `?access_token=`; undefined when absent. */
export function extractWebSocketToken(req: Pick<IncomingMessage, 'headers' | 'url'>): string | undefined {
  const header = req.headers['sec-websocket-protocol'];
  const protocols = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const index = protocols.findIndex((p) => p.toLowerCase() === BEARER_SUBPROTOCOL);
  if (index >= 0 && protocols[index + 1]) return protocols[index + 1];
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams.get('access_token');
  return query || undefined;
}

/** For ws' `handleProtocols`: answer with `bearer` — never echo the token back in the response header. */
export function selectWebSocketProtocol(protocols: Set<string>): string | false {
  for (const p of protocols) if (p.toLowerCase() === BEARER_SUBPROTOCOL) return p;
  const [first] = protocols;
  return first ?? false;
}

export async function authenticateWebSocket(auth: AuthService, req: IncomingMessage, requirement: AccessRequirement = {}): Promise<AuthUser> {
  const token = extractWebSocketToken(req);
  const user = await auth.authenticate({ token, authorization: token ? undefined : req.headers.authorization, socket: req.socket });
  auth.authorize(user, requirement);
  return user;
}

/** HTTP status + message for refusing an upgrade. */
export function webSocketRejection(error: unknown): { status: number; message: string } {
  if (error instanceof AuthenticationError) return { status: 401, message: error.message };
  if (error instanceof ForbiddenError) return { status: 403, message: error.message };
  if (error instanceof IdentityProviderUnavailableError) return { status: 503, message: 'identity provider unavailable' };
  return { status: 500, message: 'authentication failed' };
}
