import {
  Global,
  Inject,
  Logger,
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { APP_GUARD, HttpAdapterHost } from '@nestjs/core';
import { Server as TlsServer } from 'node:tls';
import { AuthService } from '../auth.service.js';
import { loadAuthConfig, securityBanner, type AuthConfig } from '../config.js';
import { AUDIT_SINK, AuditMiddleware, LoggerAuditSink, type AuditSink } from './audit.js';
import { AuthGuard } from './auth.guard.js';

export interface AuthModuleOptions {
  /** Default: loadAuthConfig(process.env) — throws AuthConfigError naming the bad variable. */
  config?: AuthConfig;
  /** Where audit lines go (default: Nest logger, context "Audit"). */
  auditSink?: AuditSink;
}

@Global()
@Module({})
export class AuthModule implements NestModule, OnApplicationBootstrap {
  private static readonly logger = new Logger('Security');

  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** Global guard (deny by default, @Public() to opt out), AuthService, audit middleware for every route. */
  static forRoot(options: AuthModuleOptions = {}): DynamicModule {
    const config = options.config ?? loadAuthConfig();
    return {
      module: AuthModule,
      providers: [
        {
          provide: AuthService,
          useFactory: async () => {
            const service = new AuthService(config);
            const banner = securityBanner(config);
            if (config.jwtEnabled) AuthModule.logger.log(`\n${banner}`);
            else AuthModule.logger.warn(`\n${banner}`);
            await service.warmUp().catch((error: Error) => AuthModule.logger.error(`${error.message} — requests will retry discovery`));
            return service;
          },
        },
        { provide: AUDIT_SINK, useValue: options.auditSink ?? new LoggerAuditSink() },
        AuditMiddleware,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
      exports: [AuthService, AUDIT_SINK],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(AuditMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }

  /** mTLS on but the app serves plain HTTP → refuse to start rather than run without client certificates. */
  onApplicationBootstrap(): void {
    if (!this.auth.config.mtls.enabled) return;
    const server = this.adapterHost.httpAdapter?.getHttpServer?.();
    if (server && !(server instanceof TlsServer)) {
      throw new Error('CLARA_MTLS_ENABLED=true but the app serves plain HTTP: create it with { httpsOptions: await loadHttpsOptions(config) }');
    }
  }
}
