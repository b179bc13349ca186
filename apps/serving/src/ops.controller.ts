/** /health (liveness + readiness) and /metrics (Prometheus). Both public, as scrapers and probes expect. */
import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '@clara/auth';
import { SERVING_STATE, type ServingState } from './serving-state.js';

@ApiTags('operations')
@Controller()
export class OpsController {
  constructor(@Inject(SERVING_STATE) private readonly s: ServingState) {}

  @Get('health')
  @Public()
  @ApiOperation({ summary: 'Ready once the base model is loaded; reports bus state and adapters' })
  async health(@Res({ passthrough: true }) res: Response) {
    const bus = this.s.bus ? await this.s.bus.health() : { ok: true, kind: 'none' as const };
    const runnerFailure = this.s.engine.runner.failure;
    const ready = this.s.ready && !runnerFailure;
    res.status(ready ? 200 : 503);
    return {
      status: ready ? 'healthy' : runnerFailure ? 'unavailable' : 'starting',
      service: 'serving',
      ready,
      ...(runnerFailure ? { message: `model runner failed: ${runnerFailure.message}` } : {}),
      replica_id: this.s.replicaId,
      base_model: this.s.engine.modelName,
      uptime_seconds: Math.round((Date.now() - this.s.startedAt) / 1000),
      checks: {
        model: { ok: ready, context_length: this.s.engine.contextLength },
        bus: { ok: bus.ok, kind: bus.kind },
        adapters: { known: this.s.engine.pool.list().length, resident: this.s.engine.pool.residentCount(), slots: this.s.engine.pool.capacity },
        batcher: { queue_depth: this.s.engine.batcher.queueDepth, batch_size: this.s.engine.batcher.batchSize },
      },
    };
  }

  @Get('metrics')
  @Public()
  @ApiExcludeEndpoint()
  async metrics(@Res() res: Response) {
    res.setHeader('Content-Type', this.s.metrics.registry.contentType);
    res.send(await this.s.metrics.registry.metrics());
  }
}
