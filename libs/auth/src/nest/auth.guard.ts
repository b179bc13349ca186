import {
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthService, type AccessRequirement } from '../auth.service.js';
import { AuthenticationError, ForbiddenError, IdentityProviderUnavailableError } from '../errors.js';
import { ACCESS_REQUIREMENT, IS_PUBLIC } from './decorators.js';

/**
 * The one guard (registered globally by AuthModule.forRoot): @Public() routes pass; every other route needs
 * an authenticated user (401) holding the route's roles/permission (403). Sets `request.user`.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true; // WebSocket gateways authenticate at the handshake (websocket.ts)
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const requirement = this.reflector.getAllAndOverride<AccessRequirement>(ACCESS_REQUIREMENT, targets) ?? {};
    const request = context.switchToHttp().getRequest();
    try {
      request.user = await this.auth.authenticate({ authorization: request.headers?.authorization, socket: request.socket });
      this.auth.authorize(request.user, requirement);
      return true;
    } catch (error) {
      throw toHttpException(error, context.switchToHttp().getResponse());
    }
  }
}

export function toHttpException(error: unknown, response?: { setHeader?(name: string, value: string): unknown }): unknown {
  if (error instanceof AuthenticationError) {
    // RFC 6750: tell the client which scheme and why (never echo the token).
    const challenge = error.reason === 'missing_token' ? 'Bearer' : `Bearer error="invalid_token", error_description="${error.message.replace(/[^\x20-\x7e]|"/g, "'")}"`;
    response?.setHeader?.('WWW-Authenticate', challenge);
    return new UnauthorizedException({ statusCode: 401, error: 'Unauthorized', message: error.message, reason: error.reason });
  }
  if (error instanceof ForbiddenError) return new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: error.message });
  if (error instanceof IdentityProviderUnavailableError) {
    return new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: `identity provider unavailable: ${error.message}` });
  }
  return error instanceof HttpException ? error : error;
}
