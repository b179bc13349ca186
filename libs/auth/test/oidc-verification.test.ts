import { createHmac, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, AuthService, IdentityProviderUnavailableError, loadAuthConfig } from '../src/index.js';
import { newSigningKey, startOidcProvider, type OidcFixture } from './oidc-fixture.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('token verification against a real OIDC provider (discovery + JWKS over HTTP)', () => {
  let idp: OidcFixture;
  let auth: AuthService;

  beforeAll(async () => {
    idp = await startOidcProvider({
      clients: [
        { clientId: 'clara-training-system', realmRoles: ['admin'] },
        { clientId: 'clara-analyst-ui', clientRoles: ['analyst'] },
      ],
    });
    auth = new AuthService(idp.config());
    await auth.warmUp();
  });
  afterAll(() => idp?.close());

  const verify = (token: string) => auth.authenticate({ authorization: `Bearer ${token}` });
  const rejection = async (token: string) => {
    const error = await verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    return (error as Error).message;
  };

  it('accepts a token from the token endpoint and reads realm and client roles', async () => {
    const admin = await verify(await idp.token('clara-training-system'));
    expect(admin).toMatchObject({ sub: 'clara-training-system', roles: ['admin'], via: 'jwt' });
    const analyst = await verify(await idp.token('clara-analyst-ui'));
    expect(analyst.roles).toEqual(['analyst']); // from resource_access[clara-training-system].roles, accepted by aud
    expect(analyst.email).toBe('clara-analyst-ui@clients.clara.local');
  });

  it('accepts a Keycloak user token whose aud is "account" but azp is the client', async () => {
    const user = await verify(await idp.sign({ realm_access: { roles: ['trainer', 'offline_access'] } }));
    expect(user).toMatchObject({ sub: 'user-1', email: 'alice@clara.local' });
    expect(user.roles.sort()).toEqual(['offline_access', 'trainer']);
  });

  it('rejects an expired token and one not valid yet (beyond the clock tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await rejection(await idp.sign({ iat: now - 600, exp: now - 60 }))).toMatch(/expired/);
    expect(await rejection(await idp.sign({ nbf: now + 120 }))).toMatch(/not yet valid/);
    // within the 10 s tolerance both still pass
    await expect(verify(await idp.sign({ iat: now - 600, exp: now - 3 }))).resolves.toBeTruthy();
  });

  it('rejects a wrong issuer and a wrong audience', async () => {
    expect(await rejection(await idp.sign({ iss: `${idp.url}/realms/other` }))).toMatch(/issuer/);
    expect(await rejection(await idp.sign({ aud: 'other-service', azp: 'other-client' }))).toMatch(/not issued for client/);
  });

  it('rejects a non-string subject and ignores non-string email claims', async () => {
    expect(await rejection(await idp.sign({ sub: 42 }))).toMatch(/sub/);
    expect((await verify(await idp.sign({ email: { $ne: 1 }, preferred_username: 'bob' }))).email).toBe('bob');
  });

  it('rejects an ID token (typ ID) even though it is correctly signed', async () => {
    expect(await rejection(await idp.sign({ typ: 'ID', aud: idp.apiClientId }))).toMatch(/not an access token/);
  });

  it('rejects alg none and HS256 signed with the public key (key confusion)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: idp.issuer, sub: 'mallory', azp: idp.apiClientId, exp: now + 300, realm_access: { roles: ['admin'] } };
    const none = `${b64({ alg: 'none', typ: 'JWT', kid: 'key-1' })}.${b64(claims)}.`;
    expect(await rejection(none)).toMatch(/algorithm "none"/);

    const publicPem = createPublicKey({ key: idp.keys[0].publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'key-1' })}.${b64(claims)}`;
    const hs256 = `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
    expect(await rejection(hs256)).toMatch(/algorithm "HS256"/);
  });

  it('rejects a tampered payload (bad signature)', async () => {
    const [h, , s] = (await idp.sign()).split('.');
    const forged = `${h}.${b64({ iss: idp.issuer, sub: 'x', azp: idp.apiClientId, exp: 9_999_999_999, realm_access: { roles: ['admin'] } })}.${s}`;
    expect(await rejection(forged)).toMatch(/signature/);
  });

  it('rejects an unknown kid, then accepts the same kid after the provider rotates it in (JWKS refetch)', async () => {
    const rogue = await newSigningKey('key-2');
    const token = await idp.sign({}, { key: rogue });
    const before = idp.jwksRequests;
    expect(await rejection(token)).toMatch(/unknown key id "key-2"/);
    expect(idp.jwksRequests).toBeGreaterThan(before); // it did look again before refusing

    // the provider now publishes key-2 (a new one): tokens signed with it verify without restarting the service
    const rotated = await idp.rotate('key-2');
    const user = await verify(await idp.sign({ sub: 'after-rotation' }, { key: rotated }));
    expect(user.sub).toBe('after-rotation');
    // the old key keeps working and is served from the cache
    const fetches = idp.jwksRequests;
    await verify(await idp.sign());
    expect(idp.jwksRequests).toBe(fetches);
  });

  it('rate-limits JWKS refetches caused by made-up kids', async () => {
    const service = new AuthService(idp.config({ CLARA_JWKS_REQUESTS_PER_MINUTE: '2' }));
    const before = idp.jwksRequests;
    const rogue = await newSigningKey('rogue');
    for (let i = 0; i < 8; i++) {
      const token = await idp.sign({}, { key: rogue, header: { kid: `made-up-${i}` } });
      await expect(service.authenticate({ token })).rejects.toThrow(/unknown key id "made-up-/);
    }
    expect(idp.jwksRequests - before).toBeLessThanOrEqual(2);
  });

  it('reports missing and malformed credentials as 401-type errors', async () => {
    await expect(auth.authenticate({})).rejects.toMatchObject({ reason: 'missing_token' });
    await expect(auth.authenticate({ authorization: 'Basic abc' })).rejects.toMatchObject({ reason: 'missing_token' });
    expect(await rejection('not-a-jwt')).toMatch(/malformed/);
  });

  it('an unreachable or misconfigured identity provider is an outage (503), not a bad token', async () => {
    const down = new AuthService(loadAuthConfig({ CLARA_SECURITY_MODE: 'development', KEYCLOAK_URL: 'http://127.0.0.1:9', KEYCLOAK_REALM: 'clara' }));
    await expect(down.authenticate({ token: await idp.sign() })).rejects.toBeInstanceOf(IdentityProviderUnavailableError);
    const wrongRealmIssuer = new AuthService(idp.config({ KEYCLOAK_ISSUER: `${idp.url}/realms/elsewhere` }));
    await expect(wrongRealmIssuer.warmUp()).rejects.toThrow(/does not match the expected issuer/);
  });
});
