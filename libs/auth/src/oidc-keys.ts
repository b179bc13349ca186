/**
 * Keycloak (or any OIDC provider) signing keys: discovery document → jwks_uri → jwks-rsa client
 * (cache, rate-limited refetch). An unknown kid misses the cache, so jwks-rsa refetches the JWKS:
 * that is how key rotation is picked up. The rate limit stops a flood of made-up kids from hammering the IdP.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import jwksRsa from 'jwks-rsa';
import type { AuthConfig } from './config.js';
import { AuthenticationError, IdentityProviderUnavailableError, quoteUntrusted } from './errors.js';
import type { KeyResolver } from './token-verifier.js';

export interface OidcDiscovery {
  issuer: string;
  jwks_uri: string;
  [key: string]: unknown;
}

export class OidcKeyResolver implements KeyResolver {
  private client?: Promise<jwksRsa.JwksClient>;
  /** Parsed keys by PEM: jwks-rsa decides which key is current (cache, maxAge); parsing PEM per request is waste. */
  private readonly parsed = new Map<string, KeyObject>();
  discovery?: OidcDiscovery;

  constructor(
    private readonly config: Pick<AuthConfig, 'keycloak' | 'jwt'>,
    private readonly timeoutMs = 5_000,
  ) {}

  /** Fetch discovery once; a failure is not remembered, so the next request retries. */
  discover(): Promise<jwksRsa.JwksClient> {
    this.client ??= this.fetchDiscovery().catch((error: unknown) => {
      this.client = undefined;
      throw error;
    });
    return this.client;
  }

  async getKey(kid: string): Promise<KeyObject> {
    const client = await this.discover();
    try {
      const pem = (await client.getSigningKey(kid)).getPublicKey();
      let key = this.parsed.get(pem);
      if (!key) {
        if (this.parsed.size >= 64) this.parsed.clear();
        key = createPublicKey(pem);
        this.parsed.set(pem, key);
      }
      return key;
    } catch (error) {
      const name = (error as Error)?.name;
      if (name === 'SigningKeyNotFoundError') throw new AuthenticationError(`token signed with unknown key id ${quoteUntrusted(kid)}`);
      if (name === 'JwksRateLimitError') throw new AuthenticationError(`token signed with unknown key id ${quoteUntrusted(kid)} (JWKS refetch rate-limited)`);
      throw new IdentityProviderUnavailableError(`JWKS fetch failed: ${(error as Error)?.message ?? error}`, { cause: error });
    }
  }

  private async fetchDiscovery(): Promise<jwksRsa.JwksClient> {
    const { discoveryUrl, issuer } = this.config.keycloak;
    let doc: OidcDiscovery;
    try {
      const response = await fetch(discoveryUrl, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      doc = (await response.json()) as OidcDiscovery;
    } catch (error) {
      throw new IdentityProviderUnavailableError(`OIDC discovery at ${discoveryUrl} failed: ${(error as Error).message}`, { cause: error });
    }
    if (doc.issuer !== issuer) {
      // Misconfiguration, not an outage: KEYCLOAK_URL/KEYCLOAK_REALM (or KEYCLOAK_ISSUER) disagree with the IdP.
      throw new IdentityProviderUnavailableError(
        `OIDC discovery issuer ${JSON.stringify(doc.issuer)} does not match the expected issuer ${JSON.stringify(issuer)} (check KEYCLOAK_URL, KEYCLOAK_REALM, KEYCLOAK_ISSUER)`,
      );
    }
    if (typeof doc.jwks_uri !== 'string') throw new IdentityProviderUnavailableError(`OIDC discovery at ${discoveryUrl} has no jwks_uri`);
    this.discovery = doc;
    return new jwksRsa.JwksClient({
      jwksUri: doc.jwks_uri,
      cache: true,
      cacheMaxEntries: 16,
      cacheMaxAge: this.config.jwt.jwksCacheMaxAgeSec * 1000,
      rateLimit: true,
      jwksRequestsPerMinute: this.config.jwt.jwksRequestsPerMinute,
      timeout: this.timeoutMs,
    });
  }
}

/** Fixed keys (testing mode): same verifier, no network. */
export class StaticKeyResolver implements KeyResolver {
  constructor(private readonly keys: ReadonlyMap<string, KeyObject>) {}

  async getKey(kid: string): Promise<KeyObject> {
    const key = this.keys.get(kid);
    if (!key) throw new AuthenticationError(`token signed with unknown key id ${quoteUntrusted(kid)}`);
    return key;
  }
}
