/**
 * The single answer to "who can do this?" (RBAC as in the seed: admin, trainer, analyst).
 * Routes name either roles (`@Authenticated({ roles: ['admin', 'trainer'] })`) or a permission
 * (`@Authenticated({ permission: Permission.TrainingJobCreate })`); both resolve through this file.
 */
export const ROLES = ['admin', 'trainer', 'analyst'] as const;
export type Role = (typeof ROLES)[number];

export const Permission = {
  /** POST /api/training/jobs */
  TrainingJobCreate: 'training.job.create',
  /** DELETE /api/training/jobs/{id} */
  TrainingJobCancel: 'training.job.cancel',
  /** GET job, list, events, /ws/training */
  TrainingJobRead: 'training.job.read',
  /** POST /api/datasets/search */
  DatasetSearch: 'dataset.search',
  /** GET /api/datasets/statistics and dataset reads */
  DatasetRead: 'dataset.read',
  /** create / import / curate / delete datasets and versions */
  DatasetWrite: 'dataset.write',
  /** list adapters, models */
  AdapterRead: 'adapter.read',
  /** register, load, unload, delete adapters */
  AdapterManage: 'adapter.manage',
  /** chat/completions against served models */
  ServingInvoke: 'serving.invoke',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

const ALL_PERMISSIONS = Object.values(Permission) as Permission[];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: ALL_PERMISSIONS,
  trainer: [
    Permission.TrainingJobCreate,
    Permission.TrainingJobCancel,
    Permission.TrainingJobRead,
    Permission.DatasetSearch,
    Permission.DatasetRead,
    Permission.DatasetWrite,
    Permission.AdapterRead,
    Permission.AdapterManage,
    Permission.ServingInvoke,
  ],
  analyst: [
    Permission.TrainingJobRead,
    Permission.DatasetSearch,
    Permission.DatasetRead,
    Permission.AdapterRead,
    Permission.ServingInvoke,
  ],
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** True when the user holds at least one of `required` (empty = any authenticated user). */
export function hasAnyRole(userRoles: readonly string[], required: readonly string[]): boolean {
  return required.length === 0 || required.some((role) => userRoles.includes(role));
}

export function hasPermission(userRoles: readonly string[], permission: Permission): boolean {
  return userRoles.some((role) => isRole(role) && ROLE_PERMISSIONS[role].includes(permission));
}

/** Roles that grant a permission (used for error messages and the OpenAPI description). */
export function rolesWith(permission: Permission): Role[] {
  return ROLES.filter((role) => ROLE_PERMISSIONS[role].includes(permission));
}
