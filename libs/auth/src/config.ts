/**
 * Security configuration, read once at start from the environment (seed variables plus a few CLARA_* extras).
 * Every problem is collected and reported together, each naming its variable; start-up must stop on error.
 *
 *   debug        no checks, mock user from DEBUG_USER_EMAIL / DEBUG_USER_ROLES, loud banner
 *   testing      RS256 tokens signed by a local key (CLARA_TEST_JWT_KEY_FILE or generated), no network
 *   development  Keycloak OIDC: discovery + JWKS (RS256), iss, aud/azp, exp/nbf, realm + client roles
 *   production   development + mTLS (client certificates required); refuses to start with JWT or mTLS off
 */
import { existsSync } from 'node:fs';
import { AuthConfigError } from './errors.js';
import { isRole, ROLES } from './permissions.js';

export const SECURITY_MODES = ['debug', 'testing', 'development', 'production'] as const;
export type SecurityMode = (typeof SECURITY_MODES)[number];

export interface AuthConfig {
  mode: SecurityMode;
  /** False only in debug (or when explicitly disabled outside production): then every request is the mock user. */
  jwtEnabled: boolean;
  keycloak: {
    url: string;
    realm: string;
    clientId: string;
    /** Expected `iss`: KEYCLOAK_ISSUER, default `${KEYCLOAK_URL}/realms/${KEYCLOAK_REALM}`. */
    issuer: string;
    discoveryUrl: string;
  };
  jwt: {
    clockToleranceSec: number;
    jwksCacheMaxAgeSec: number;
    jwksRequestsPerMinute: number;
    /** testing mode: PEM private key file; undefined = a key generated for this process. */
    testKeyFile?: string;
  };
  mtls: {
    enabled: boolean;
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    pkiServiceUrl: string;
    /** Path on PKI_SERVICE_URL serving the PEM CA bundle (used when CLARA_MTLS_CA_FILE is unset). */
    pkiCaPath: string;
  };
  debugUser: { email: string; roles: string[] };
}

type Env = Record<string, string | undefined>;

export function loadAuthConfig(env: Env = process.env): AuthConfig {
  const problems: Record<string, string> = {};
  const get = (name: string) => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const value = get(name);
    if (value === undefined) return fallback;
    const v = value.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    problems[name] = `must be true or false (got ${JSON.stringify(value)})`;
    return fallback;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const value = get(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems[name] = `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`;
      return fallback;
    }
    return n;
  };
  const httpUrl = (name: string, fallback: string): string => {
    const value = get(name) ?? fallback;
    try {
      const u = new URL(value);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      problems[name] = `must be an http(s) URL (got ${JSON.stringify(value)})`;
    }
    return value.replace(/\/+$/, '');
  };
  const file = (name: string, required: boolean): string | undefined => {
    const value = get(name);
    if (value === undefined) {
      if (required) problems[name] = 'is required but not set';
      return undefined;
    }
    if (!existsSync(value)) problems[name] = `file ${JSON.stringify(value)} does not exist`;
    return value;
  };

  // Unset mode defaults to debug for a fresh clone, but never silently in a production container.
  const rawMode = get('CLARA_SECURITY_MODE')?.toLowerCase();
  let mode: SecurityMode = 'debug';
  if (rawMode === undefined) {
    if (get('NODE_ENV') === 'production') problems.CLARA_SECURITY_MODE = 'must be set explicitly when NODE_ENV=production';
  } else if ((SECURITY_MODES as readonly string[]).includes(rawMode)) {
    mode = rawMode as SecurityMode;
  } else {
    problems.CLARA_SECURITY_MODE = `must be one of ${SECURITY_MODES.join(', ')} (got ${JSON.stringify(get('CLARA_SECURITY_MODE'))})`;
  }

  const jwtEnabled = bool('CLARA_JWT_ENABLED', mode !== 'debug');
  if (mode === 'debug' && jwtEnabled) problems.CLARA_JWT_ENABLED = 'must be false (or unset) in debug mode';
  if (mode === 'production' && !jwtEnabled) problems.CLARA_JWT_ENABLED = 'production mode requires JWT (set it to true)';

  const mtlsEnabled = bool('CLARA_MTLS_ENABLED', mode === 'production');
  if (mode === 'production' && !mtlsEnabled) problems.CLARA_MTLS_ENABLED = 'production mode requires mTLS (set it to true)';

  const url = httpUrl('KEYCLOAK_URL', 'http://localhost:8080');
  const realm = get('KEYCLOAK_REALM') ?? 'vcc';
  if (!/^[\w.-]+$/.test(realm)) problems.KEYCLOAK_REALM = `must be a realm name of letters, digits, . _ - (got ${JSON.stringify(realm)})`;
  const clientId = get('KEYCLOAK_CLIENT_ID') ?? 'clara-training-system';
  const issuer = get('KEYCLOAK_ISSUER') ? httpUrl('KEYCLOAK_ISSUER', '') : `${url}/realms/${realm}`;

  const pkiServiceUrl = httpUrl('PKI_SERVICE_URL', 'http://localhost:8443');
  const pkiCaPath = get('CLARA_PKI_CA_PATH') ?? '/api/v1/ca/bundle';
  if (!pkiCaPath.startsWith('/')) problems.CLARA_PKI_CA_PATH = `must start with / (got ${JSON.stringify(pkiCaPath)})`;
  const caFile = file('CLARA_MTLS_CA_FILE', false);
  const certFile = file('CLARA_MTLS_CERT_FILE', mtlsEnabled);
  const keyFile = file('CLARA_MTLS_KEY_FILE', mtlsEnabled);
  // A CA bundle fetched over plain HTTP could be swapped in transit: production demands HTTPS for it.
  if (mode === 'production' && mtlsEnabled && !caFile && !pkiServiceUrl.startsWith('https:')) {
    problems.PKI_SERVICE_URL = 'production fetches the mTLS CA bundle only over https (or set CLARA_MTLS_CA_FILE)';
  }

  const debugEmail = get('DEBUG_USER_EMAIL') ?? 'debug@clara.local';
  const debugRoles = (get('DEBUG_USER_ROLES') ?? 'admin,trainer,analyst')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const unknownRoles = debugRoles.filter((r) => !isRole(r));
  if (unknownRoles.length > 0) {
    problems.DEBUG_USER_ROLES = `unknown role(s) ${unknownRoles.join(', ')}; known: ${ROLES.join(', ')}`;
  }

  const config: AuthConfig = {
    mode,
    jwtEnabled,
    keycloak: { url, realm, clientId, issuer, discoveryUrl: `${url}/realms/${realm}/.well-known/openid-configuration` },
    jwt: {
      clockToleranceSec: int('CLARA_JWT_CLOCK_TOLERANCE_S', 10, 0, 300),
      jwksCacheMaxAgeSec: int('CLARA_JWKS_CACHE_MAX_AGE_S', 600, 0, 86_400),
      jwksRequestsPerMinute: int('CLARA_JWKS_REQUESTS_PER_MINUTE', 10, 1, 600),
      testKeyFile: mode === 'testing' ? file('CLARA_TEST_JWT_KEY_FILE', false) : undefined,
    },
    mtls: { enabled: mtlsEnabled, caFile, certFile, keyFile, pkiServiceUrl, pkiCaPath },
    debugUser: { email: debugEmail, roles: debugRoles },
  };
  if (Object.keys(problems).length > 0) throw new AuthConfigError(problems);
  return config;
}

/** The start-up banner (seed format). Loud when nothing is checked. */
export function securityBanner(config: AuthConfig): string {
  const line = '='.repeat(60);
  const lines = [
    line,
    'CLARA Security Configuration',
    line,
    `Security Mode: ${config.mode.toUpperCase()}`,
    `JWT Enabled: ${config.jwtEnabled ? 'True' : 'False'}`,
    `mTLS Enabled: ${config.mtls.enabled ? 'True' : 'False'}`,
  ];
  if (!config.jwtEnabled) {
    lines.push(
      `⚠  ${config.mode === 'debug' ? 'DEBUG MODE ACTIVE' : 'JWT DISABLED'} - NO SECURITY ENFORCEMENT!`,
      `   Debug User: ${config.debugUser.email}`,
      `   Debug Roles: [${config.debugUser.roles.map((r) => `'${r}'`).join(', ')}]`,
    );
  } else if (config.mode === 'testing') {
    lines.push(`Token issuer: ${config.keycloak.issuer} (local test key, no network)`);
  } else {
    lines.push(`Keycloak issuer: ${config.keycloak.issuer}`, `Client ID: ${config.keycloak.clientId}`);
  }
  lines.push(line);
  return lines.join('\n');
}
