/**
 * The one token verification path (HTTP guard, WebSocket handshake, every mode that checks tokens).
 * RS256 only; iss, aud/azp, exp/nbf with a small clock tolerance; roles from Keycloak's
 * realm_access.roles and resource_access[clientId].roles.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { AuthUser } from './auth-user.js';
import { AuthenticationError, quoteUntrusted } from './errors.js';

export interface KeyResolver {
  /** Public key for `kid`; AuthenticationError when unknown, IdentityProviderUnavailableError when unreachable. */
  getKey(kid: string): Promise<KeyObject>;
}

export interface TokenVerifierOptions {
  issuer: string;
  clientId: string;
  clockToleranceSec: number;
  keys: KeyResolver;
}

interface KeycloakClaims extends JWTPayload {
  azp?: string;
  typ?: string;
  email?: string;
  preferred_username?: string;
  realm_access?: { roles?: unknown };
  resource_access?: Record<string, { roles?: unknown } | undefined>;
}

export class TokenVerifier {
  constructor(private readonly options: TokenVerifierOptions) {}

  async verify(token: string): Promise<AuthUser> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new AuthenticationError('malformed token');
    }
    // Checked before any key lookup: `none`, HS256-with-the-public-key and friends never reach the JWKS.
    if (header.alg !== 'RS256') throw new AuthenticationError(`token algorithm ${quoteUntrusted(header.alg)} is not accepted (RS256 only)`);
    if (typeof header.kid !== 'string' || header.kid === '') throw new AuthenticationError('token has no key id (kid)');
    const key = await this.options.keys.getKey(header.kid);

    let claims: KeycloakClaims;
    try {
      ({ payload: claims } = await jwtVerify<KeycloakClaims>(token, key, {
        algorithms: ['RS256'],
        issuer: this.options.issuer,
        clockTolerance: this.options.clockToleranceSec,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      throw new AuthenticationError(describeJoseError(error));
    }

    // Keycloak puts the requesting client in azp; aud may instead name resource servers.
    const audiences = Array.isArray(claims.aud) ? claims.aud : claims.aud === undefined ? [] : [claims.aud];
    if (!audiences.includes(this.options.clientId) && claims.azp !== this.options.clientId) {
      throw new AuthenticationError(`token is not issued for client ${JSON.stringify(this.options.clientId)} (aud/azp)`);
    }
    // Keycloak marks ID and refresh tokens with typ; only access tokens authorise API calls.
    if (claims.typ !== undefined && claims.typ.toLowerCase() !== 'bearer') {
      throw new AuthenticationError(`token type ${quoteUntrusted(claims.typ)} is not an access token`);
    }

    const roles = new Set<string>([
      ...stringList(claims.realm_access?.roles),
      ...stringList(claims.resource_access?.[this.options.clientId]?.roles),
    ]);
    const sub = claims.sub;
    if (typeof sub !== 'string' || sub === '') throw new AuthenticationError('token subject (sub) must be a non-empty string');
    const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
    return {
      sub,
      email: text(claims.email) ?? text(claims.preferred_username) ?? sub,
      roles: [...roles],
      via: 'jwt',
    };
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'token not yet valid (nbf)';
    if (error.claim === 'iat') return 'token issued in the future (iat)';
    if (error.claim === 'iss') return 'token issuer is not trusted';
    return `token claim ${error.claim} invalid: ${error.reason}`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not accepted (RS256 only)';
  if (error instanceof joseErrors.JOSEError) return `invalid token (${error.code})`;
  return 'invalid token';
}
