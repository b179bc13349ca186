import { describe, expect, it } from 'vitest';
import { hasAnyRole, hasPermission, Permission, rolesWith } from './permissions.js';

describe('RBAC (seed tables)', () => {
  it('create/cancel training jobs: admin and trainer; reading: everyone', () => {
    expect(rolesWith(Permission.TrainingJobCreate)).toEqual(['admin', 'trainer']);
    expect(rolesWith(Permission.TrainingJobCancel)).toEqual(['admin', 'trainer']);
    expect(rolesWith(Permission.TrainingJobRead)).toEqual(['admin', 'trainer', 'analyst']);
  });

  it('dataset search: admin, trainer and analyst; dataset writes not for analysts', () => {
    expect(rolesWith(Permission.DatasetSearch)).toEqual(['admin', 'trainer', 'analyst']);
    expect(hasPermission(['analyst'], Permission.DatasetWrite)).toBe(false);
    expect(hasPermission(['analyst', 'trainer'], Permission.DatasetWrite)).toBe(true);
  });

  it('unknown roles grant nothing; an empty role list means any authenticated user', () => {
    expect(hasPermission(['offline_access', 'uma_authorization'], Permission.TrainingJobRead)).toBe(false);
    expect(hasAnyRole([], [])).toBe(true);
    expect(hasAnyRole(['analyst'], ['admin', 'trainer'])).toBe(false);
  });
});
