import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '@clara/auth';
import type { MessageBus, SharedDataSource } from '@clara/platform';

export const HEALTH_DEPS = Symbol('HEALTH_DEPS');
export interface HealthDeps {
  db: SharedDataSource;
  bus: MessageBus;
  service: string;
  startedAt: number;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(@Inject(HEALTH_DEPS) private readonly deps: HealthDeps) {}

  @Get()
  @Public()
  @ApiOperation({ summary: 'Liveness plus readiness of PostgreSQL and the message bus (503 naming what is down)' })
  async health(@Res({ passthrough: true }) res: Response) {
    const [database, bus] = await Promise.all([this.deps.db.ping(2000), this.deps.bus.health()]);
    const failing = [!database.ok && `database (${database.detail})`, !bus.ok && `message bus (${bus.detail})`].filter(Boolean);
    res.status(failing.length ? 503 : 200);
    return {
      status: failing.length ? 'unavailable' : 'healthy',
      service: this.deps.service,
      ...(failing.length ? { message: `not ready: ${failing.join(', ')}` } : {}),
      uptime_seconds: Math.round((Date.now() - this.deps.startedAt) / 1000),
      checks: {
        database: { ok: database.ok, embedded: this.deps.db.embedded, ...(database.detail ? { detail: database.detail } : {}) },
        bus: { ok: bus.ok, kind: bus.kind, ...(bus.detail ? { detail: bus.detail } : {}) },
      },
    };
  }
}
