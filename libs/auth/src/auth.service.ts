/**
 * Framework-free authentication core shared by the Nest guard and the WebSocket helper:
 * mode → credentials check → AuthUser, plus role/permission authorisation.
 */
import type { Socket } from 'node:net';
import type { AuthUser } from './auth-user.js';
import { loadAuthConfig, type AuthConfig } from './config.js';
import { AuthenticationError, ForbiddenError } from './errors.js';
import { verifiedClientCertSubject } from './mtls.js';
import { OidcKeyResolver, StaticKeyResolver } from './oidc-keys.js';
import { hasAnyRole, hasPermission, rolesWith, type Permission } from './permissions.js';
import { testingKey } from './testing-keys.js';
import { TokenVerifier } from './token-verifier.js';

export interface AccessRequirement {
  /** Any one of these roles (empty/absent = any authenticated user). */
  roles?: readonly string[];
  /** A permission from permissions.ts (checked in addition to roles). */
  permission?: Permission;
}

export interface Credentials {
  /** The Authorization header value (`Bearer <token>`). */
  authorization?: string;
  /** A bare token (WebSocket subprotocol or query parameter). */
  token?: string;
  /** The connection, for the mTLS client certificate. */
  socket?: Socket;
}

export class AuthService {
  readonly verifier?: TokenVerifier;
  private readonly oidc?: OidcKeyResolver;

  constructor(readonly config: AuthConfig = loadAuthConfig()) {
    if (!config.jwtEnabled) return;
    const { keycloak, jwt } = config;
    if (config.mode === 'testing') {
      const key = testingKey(jwt.testKeyFile);
      this.verifier = new TokenVerifier({
        issuer: keycloak.issuer,
        clientId: keycloak.clientId,
        clockToleranceSec: jwt.clockToleranceSec,
        keys: new StaticKeyResolver(new Map([[key.kid, key.publicKey]])),
      });
    } else {
      this.oidc = new OidcKeyResolver(config);
      this.verifier = new TokenVerifier({ issuer: keycloak.issuer, clientId: keycloak.clientId, clockToleranceSec: jwt.clockToleranceSec, keys: this.oidc });
    }
  }

  /** Fetch OIDC discovery now so a misconfigured or unreachable Keycloak shows at start (requests retry later). */
  async warmUp(): Promise<void> {
    await this.oidc?.discover();
  }

  mockUser(): AuthUser {
    return { sub: 'debug', email: this.config.debugUser.email, roles: [...this.config.debugUser.roles], via: 'debug' };
  }

  async authenticate(credentials: Credentials): Promise<AuthUser> {
    let clientCertSubject: string | undefined;
    if (this.config.mtls.enabled) {
      // TLS already refused unverified clients; this catches an app started without loadHttpsOptions().
      clientCertSubject = verifiedClientCertSubject(credentials.socket);
      if (!clientCertSubject) throw new AuthenticationError('a verified client certificate is required (mTLS)', 'client_certificate');
    }
    const user = this.verifier ? await this.verifier.verify(extractToken(credentials)) : this.mockUser();
    return clientCertSubject ? { ...user, clientCertSubject } : user;
  }

  /** Throws ForbiddenError naming what is missing. */
  authorize(user: AuthUser, requirement: AccessRequirement): void {
    const roles = requirement.roles ?? [];
    if (!hasAnyRole(user.roles, roles)) throw new ForbiddenError(`requires one of the roles: ${roles.join(', ')}`);
    if (requirement.permission && !hasPermission(user.roles, requirement.permission)) {
      throw new ForbiddenError(`requires permission ${requirement.permission} (roles: ${rolesWith(requirement.permission).join(', ')})`);
    }
  }
}

function extractToken(credentials: Credentials): string {
  if (credentials.token) return credentials.token;
  const header = credentials.authorization?.trim();
  if (!header) throw new AuthenticationError('missing bearer token (Authorization: Bearer <token>)', 'missing_token');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new AuthenticationError('Authorization header must be "Bearer <token>"', 'missing_token');
  return match[1];
}
