import { describe, expect, it } from 'vitest';
import { checkAdapterAccess } from './access.js';

const acl = { 'support-bot': { roles: ['trainer'] }, 'acme-*': { tenants: ['acme'] }, 'acme-open': {} };

describe('per-adapter access', () => {
  it('allows matching roles or tenants, admins, and adapters without a rule', () => {
    expect(() => checkAdapterAccess(acl, 'support-bot', { roles: ['trainer'] })).not.toThrow();
    expect(() => checkAdapterAccess(acl, 'acme-legal', { roles: ['analyst', 'tenant:acme'] })).not.toThrow();
    expect(() => checkAdapterAccess(acl, 'acme-legal', { roles: ['admin'] })).not.toThrow();
    expect(() => checkAdapterAccess(acl, 'acme-open', { roles: ['analyst'] })).not.toThrow();
    expect(() => checkAdapterAccess(acl, 'other', { roles: ['analyst'] })).not.toThrow();
  });

  it('denies with a 403 in OpenAI shape otherwise', () => {
    for (const [model, roles] of [
      ['support-bot', ['analyst']],
      ['acme-legal', ['trainer', 'tenant:globex']],
    ] as const) {
      let err: unknown;
      try {
        checkAdapterAccess(acl, model, { roles: [...roles] });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ status: 403, type: 'permission_error', param: 'model' });
    }
  });
});
