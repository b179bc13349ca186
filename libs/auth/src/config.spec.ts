import { describe, expect, it } from 'vitest';
import { AuthConfigError } from './errors.js';
import { loadAuthConfig, securityBanner } from './config.js';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadAuthConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(AuthConfigError);
    return (error as AuthConfigError).variables;
  }
  throw new Error('expected an AuthConfigError');
};

describe('loadAuthConfig', () => {
  it('defaults to debug with JWT and mTLS off and the seed debug user', () => {
    const config = loadAuthConfig({});
    expect(config).toMatchObject({ mode: 'debug', jwtEnabled: false, mtls: { enabled: false } });
    expect(config.debugUser).toEqual({ email: 'debug@clara.local', roles: ['admin', 'trainer', 'analyst'] });
    expect(config.keycloak.discoveryUrl).toBe('http://localhost:8080/realms/vcc/.well-known/openid-configuration');
  });

  it('names each bad variable', () => {
    expect(problemsOf({ CLARA_SECURITY_MODE: 'prod' })).toHaveProperty('CLARA_SECURITY_MODE');
    expect(problemsOf({ CLARA_SECURITY_MODE: 'development', CLARA_JWT_ENABLED: 'maybe' })).toHaveProperty('CLARA_JWT_ENABLED');
    expect(problemsOf({ CLARA_SECURITY_MODE: 'development', KEYCLOAK_URL: 'ftp://kc' })).toHaveProperty('KEYCLOAK_URL');
    expect(problemsOf({ KEYCLOAK_REALM: 'a/b' })).toHaveProperty('KEYCLOAK_REALM');
    expect(problemsOf({ DEBUG_USER_ROLES: 'admin,root' }).DEBUG_USER_ROLES).toMatch(/root/);
    expect(problemsOf({ CLARA_JWT_CLOCK_TOLERANCE_S: '-1' })).toHaveProperty('CLARA_JWT_CLOCK_TOLERANCE_S');
    expect(problemsOf({ CLARA_SECURITY_MODE: 'debug', CLARA_JWT_ENABLED: 'true' })).toHaveProperty('CLARA_JWT_ENABLED');
    expect(problemsOf({ NODE_ENV: 'production' })).toHaveProperty('CLARA_SECURITY_MODE');
    expect(problemsOf({ CLARA_SECURITY_MODE: 'development', CLARA_MTLS_ENABLED: 'true' })).toMatchObject({
      CLARA_MTLS_CERT_FILE: 'is required but not set',
      CLARA_MTLS_KEY_FILE: 'is required but not set',
    });
  });

  it('production requires JWT and mTLS', () => {
    const problems = problemsOf({ CLARA_SECURITY_MODE: 'production', CLARA_JWT_ENABLED: 'false', CLARA_MTLS_ENABLED: 'false' });
    expect(problems.CLARA_JWT_ENABLED).toMatch(/requires JWT/);
    expect(problems.CLARA_MTLS_ENABLED).toMatch(/requires mTLS/);
    // mTLS defaults to on in production, so its files become required
    expect(problemsOf({ CLARA_SECURITY_MODE: 'production' })).toHaveProperty('CLARA_MTLS_CERT_FILE');
  });

  it('development derives the Keycloak issuer and discovery URL', () => {
    const config = loadAuthConfig({ CLARA_SECURITY_MODE: 'Development', KEYCLOAK_URL: 'https://kc.example/', KEYCLOAK_REALM: 'clara' });
    expect(config.jwtEnabled).toBe(true);
    expect(config.keycloak.issuer).toBe('https://kc.example/realms/clara');
    expect(config.keycloak.discoveryUrl).toBe('https://kc.example/realms/clara/.well-known/openid-configuration');
  });

  it('prints the loud seed banner in debug mode only', () => {
    const debug = securityBanner(loadAuthConfig({ DEBUG_USER_ROLES: 'admin,trainer' }));
    expect(debug).toContain('Security Mode: DEBUG');
    expect(debug).toContain('DEBUG MODE ACTIVE - NO SECURITY ENFORCEMENT!');
    expect(debug).toContain("Debug Roles: ['admin', 'trainer']");
    expect(securityBanner(loadAuthConfig({ CLARA_SECURITY_MODE: 'development' }))).not.toContain('NO SECURITY');
  });
});
