/**
 * testing mode: a local RS256 key pair (from CLARA_TEST_JWT_KEY_FILE, or generated once per process) and
 * `mintTestToken()` for tests that need real, verifiable Keycloak-shaped access tokens without a network.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import type { AuthConfig } from './config.js';

export interface TestingKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const cache = new Map<string, TestingKey>();

function fromPrivateKey(privateKey: KeyObject): TestingKey {
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const kid = 'clara-test-' + createHash('sha256').update(der).digest('base64url').slice(0, 16);
  return { kid, privateKey, publicKey };
}

/** The testing key for a key file, or the process-wide generated key when `file` is undefined. */
export function testingKey(file?: string): TestingKey {
  const cacheKey = file ?? '<generated>';
  let key = cache.get(cacheKey);
  if (!key) {
    const privateKey = file ? createPrivateKey(readFileSync(file, 'utf8')) : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    key = fromPrivateKey(privateKey);
    cache.set(cacheKey, key);
  }
  return key;
}

/** Writes a new PKCS#8 PEM RS256 private key (for CLARA_TEST_JWT_KEY_FILE shared between processes). */
export function writeTestingKeyFile(path: string): void {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}

export interface TestTokenOptions {
  sub?: string;
  email?: string;
  /** realm_access.roles */
  roles?: string[];
  /** resource_access[clientId].roles */
  clientRoles?: string[];
  /** seconds from now; negative = already expired */
  expiresInSec?: number;
  notBeforeSec?: number;
  issuer?: string;
  audience?: string | string[];
  azp?: string;
  extraClaims?: Record<string, unknown>;
  key?: TestingKey;
}

/** A Keycloak-shaped RS256 access token accepted by a service in testing mode with the same config. */
export async function mintTestToken(config: Pick<AuthConfig, 'keycloak' | 'jwt'>, options: TestTokenOptions = {}): Promise<string> {
  const key = options.key ?? testingKey(config.jwt.testKeyFile);
  const clientId = config.keycloak.clientId;
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    typ: 'Bearer',
    azp: options.azp ?? clientId,
    email: options.email ?? 'tester@clara.local',
    preferred_username: (options.email ?? 'tester@clara.local').split('@')[0],
    realm_access: { roles: options.roles ?? [] },
    resource_access: { [clientId]: { roles: options.clientRoles ?? [] } },
    ...options.extraClaims,
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .setIssuer(options.issuer ?? config.keycloak.issuer)
    .setSubject(options.sub ?? 'tester')
    .setAudience(options.audience ?? 'account')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSec ?? 300));
  if (options.notBeforeSec !== undefined) jwt.setNotBefore(now + options.notBeforeSec);
  return jwt.sign(key.privateKey);
}
