/**
 * A real OpenID provider (oidc-provider) in-process, laid out like Keycloak: issuer
 * http://127.0.0.1:PORT/realms/REALM, discovery, JWKS, client_credentials → RS256 JWT access tokens with
 * realm_access.roles, resource_access[client].roles and azp. `sign()` crafts edge-case tokens with the
 * provider's own keys; `rotate()` restarts the provider with an extra key (what a Keycloak key rotation looks like).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import Provider from 'oidc-provider';
import { loadAuthConfig, type AuthConfig } from '../src/index.js';

export interface FixtureClient {
  clientId: string;
  realmRoles?: string[];
  clientRoles?: string[];
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: Record<string, unknown>;
}

const SECRET = 'fixture-secret-that-is-long-enough-0123456789';

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export async function startOidcProvider(options: { realm?: string; apiClientId?: string; clients: FixtureClient[] }) {
  const realm = options.realm ?? 'clara';
  const apiClientId = options.apiClientId ?? 'clara-training-system';
  const prefix = `/realms/${realm}`;
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = `${url}${prefix}`;
  const keys: SigningKey[] = [await newSigningKey('key-1')];
  let jwksRequests = 0;
  let callback: ReturnType<Provider['callback']>;

  async function build() {
    const privateJwks = await Promise.all(keys.map(async (k) => ({ ...(await exportJWK(k.privateKey)), kid: k.kid, alg: 'RS256', use: 'sig' })));
    const byClient = new Map(options.clients.map((c) => [c.clientId, c]));
    const provider = new Provider(issuer, {
      clients: options.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
      })),
      jwks: { keys: privateJwks as never },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:clara:api',
          useGrantedResource: () => true,
          // Like a Keycloak audience mapper: tokens of every fixture client name the CLARA API client in aud.
          getResourceServerInfo: () => ({ scope: 'api', audience: apiClientId, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
        },
      },
      ttl: { ClientCredentials: 300 },
      extraTokenClaims: (_ctx, token) => {
        const client = byClient.get((token as unknown as { clientId: string }).clientId);
        return {
          typ: 'Bearer',
          azp: client?.clientId,
          email: `${client?.clientId}@clients.clara.local`,
          realm_access: { roles: client?.realmRoles ?? [] },
          resource_access: { [apiClientId]: { roles: client?.clientRoles ?? [] } },
        };
      },
    });
    callback = provider.callback();
  }
  await build();

  server.on('request', (req, res) => {
    if (!req.url?.startsWith(prefix)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    if (req.url.startsWith(`${prefix}/jwks`)) jwksRequests++;
    (req as { originalUrl?: string }).originalUrl = req.url;
    req.url = req.url.slice(prefix.length) || '/';
    void callback(req, res);
  });

  return {
    url,
    realm,
    issuer,
    apiClientId,
    keys,
    get jwksRequests() {
      return jwksRequests;
    },
    /** AuthConfig for a service trusting this provider (development unless overridden). */
    config(env: Record<string, string> = {}): AuthConfig {
      return loadAuthConfig({
        CLARA_SECURITY_MODE: 'development',
        KEYCLOAK_URL: url,
        KEYCLOAK_REALM: realm,
        KEYCLOAK_CLIENT_ID: apiClientId,
        ...env,
      });
    },
    /** A real access token from the token endpoint (client_credentials grant). */
    async token(clientId: string): Promise<string> {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: 'Basic ' + Buffer.from(`${clientId}:${SECRET}`).toString('base64'),
        },
        body: 'grant_type=client_credentials&scope=api',
      });
      const body = (await response.json()) as { access_token?: string };
      if (!response.ok || !body.access_token) throw new Error(`token endpoint: ${response.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    /** A Keycloak-shaped token signed with one of the provider's keys (or any given key), claims overridable. */
    async sign(claims: Record<string, unknown> = {}, opts: { key?: SigningKey; header?: Record<string, unknown> } = {}): Promise<string> {
      const key = opts.key ?? keys[0];
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        iss: issuer,
        sub: 'user-1',
        aud: 'account',
        azp: apiClientId,
        typ: 'Bearer',
        iat: now,
        exp: now + 300,
        email: 'alice@clara.local',
        realm_access: { roles: ['trainer'] },
        resource_access: { [apiClientId]: { roles: [] } },
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...opts.header })
        .sign(key.privateKey);
    },
    /** Add a signing key and restart the provider with it (JWKS now lists it). */
    async rotate(kid: string): Promise<SigningKey> {
      const key = await newSigningKey(kid);
      keys.push(key);
      await build();
      return key;
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export type OidcFixture = Awaited<ReturnType<typeof startOidcProvider>>;
