import { applyDecorators, createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { AccessRequirement } from '../auth.service.js';
import type { AuthUser } from '../auth-user.js';
import { rolesWith } from '../permissions.js';

export const IS_PUBLIC = 'clara:auth:public';
export const ACCESS_REQUIREMENT = 'clara:auth:requirement';
/** Swagger security scheme name; apps add it with `new DocumentBuilder().addBearerAuth(undefined, BEARER_SCHEME)`. */
export const BEARER_SCHEME = 'bearer';

/** No authentication (e.g. /health). Every other route requires a user: the guard denies by default. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * Requires an authenticated user, optionally with one of `roles` and/or a `permission` (permissions.ts),
 * and documents bearer auth plus the 401/403 responses in OpenAPI.
 */
export function Authenticated(requirement: AccessRequirement = {}) {
  const who = [
    requirement.roles?.length ? `roles: ${requirement.roles.join(', ')}` : undefined,
    requirement.permission ? `permission ${requirement.permission} (${rolesWith(requirement.permission).join(', ')})` : undefined,
  ].filter(Boolean);
  return applyDecorators(
    SetMetadata(ACCESS_REQUIREMENT, requirement),
    ApiBearerAuth(BEARER_SCHEME),
    ApiUnauthorizedResponse({ description: 'missing, expired or invalid token' }),
    ...(who.length ? [ApiForbiddenResponse({ description: `requires ${who.join('; ')}` })] : []),
  );
}

/** The authenticated user (`{ sub, email, roles, clientCertSubject? }`). */
export const Auth = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthUser => ctx.switchToHttp().getRequest().user);
