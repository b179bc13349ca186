/** A tiny Nest app using the library exactly as CLARA apps do; booted by the tests. */
import { Body, Controller, Delete, Get, HttpCode, Module, Param, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import {
  Auth,
  Authenticated,
  AuthModule,
  Permission,
  Public,
  type AuditEntry,
  type AuthConfig,
  type AuthUser,
  type MtlsHttpsOptions,
} from '../src/index.js';

@Controller()
class DemoController {
  @Public()
  @Get('health')
  health() {
    return { status: 'ok' };
  }

  @Authenticated()
  @Get('api/training/jobs/:id')
  get(@Param('id') id: string, @Auth() user: AuthUser) {
    return { id, user };
  }

  @Authenticated({ roles: ['admin', 'trainer'] })
  @Post('api/training/jobs')
  create(@Body() body: unknown, @Auth() user: AuthUser) {
    return { created_by: user.email, body };
  }

  @Authenticated({ permission: Permission.TrainingJobCancel })
  @Delete('api/training/jobs/:id')
  @HttpCode(200)
  cancel(@Param('id') id: string) {
    return { cancelled: id };
  }

  @Get('api/undecorated')
  undecorated() {
    return { reachable: true };
  }
}

/** Audit lines are written on the response's 'finish', which may trail the client's read: poll briefly. */
export async function waitForAudit(audit: AuditEntry[], count: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (audit.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

export async function bootDemoApp(config: AuthConfig, httpsOptions?: MtlsHttpsOptions) {
  const audit: AuditEntry[] = [];
  @Module({ imports: [AuthModule.forRoot({ config, auditSink: { write: (e) => audit.push(e) } })], controllers: [DemoController] })
  class DemoModule {}
  const app: INestApplication = await NestFactory.create(DemoModule, { logger: false, httpsOptions });
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  return { app, audit, baseUrl: `${httpsOptions ? 'https' : 'http'}://127.0.0.1:${port}`, port };
}
