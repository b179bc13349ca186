/**
 * The seed's dataset endpoints on the training port, forwarded to the datasets service: over HTTP when
 * CLARA_DATASETS_URL is set, else over bus request/reply (Subjects.datasetSearchRequest / datasetStatisticsRequest).
 * The datasets service validates the body; its 4xx answers are passed through.
 */
import { Body, Controller, Get, HttpException, Inject, Post, Query, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Authenticated, Permission } from '@clara/auth';
import { Subjects, type DatasetForwardRequest } from '@clara/contracts';
import { BusNoRespondersError, BusRemoteError, BusTimeoutError, type MessageBus } from '@clara/platform';

export const DATASETS_PROXY_DEPS = Symbol('DATASETS_PROXY_DEPS');
export interface DatasetsProxyDeps {
  bus: MessageBus;
  datasetsUrl?: string;
  timeoutMs: number;
}

@ApiTags('datasets (forwarded)')
@Controller('api/datasets')
export class DatasetsProxyController {
  constructor(@Inject(DATASETS_PROXY_DEPS) private readonly deps: DatasetsProxyDeps) {}

  @Post('search')
  @Authenticated({ permission: Permission.DatasetSearch })
  @ApiOperation({ summary: 'Hybrid dataset search (forwarded to the datasets service)' })
  async search(@Body() body: Record<string, unknown>, @Req() req: Request) {
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpException({ statusCode: 400, error: 'Bad Request', message: 'request body must be a JSON object' }, 400);
    }
    return this.forward('POST', '/api/datasets/search', Subjects.datasetSearchRequest, body, req);
  }

  @Get('statistics')
  @Authenticated({ permission: Permission.DatasetRead })
  @ApiOperation({ summary: 'Dataset statistics (forwarded to the datasets service)' })
  statistics(@Query() query: Record<string, string>, @Req() req: Request) {
    return this.forward('GET', '/api/datasets/statistics', Subjects.datasetStatisticsRequest, query, req);
  }

  private async forward(method: 'GET' | 'POST', path: string, subject: string, payload: Record<string, unknown>, req: Request) {
    if (this.deps.datasetsUrl) {
      const url = new URL(path, this.deps.datasetsUrl);
      if (method === 'GET') for (const [k, v] of Object.entries(payload)) url.searchParams.set(k, String(v));
      let res: globalThis.Response;
      try {
        res = await fetch(url, {
          method,
          headers: { 'content-type': 'application/json', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) },
          body: method === 'POST' ? JSON.stringify(payload) : undefined,
          signal: AbortSignal.timeout(this.deps.timeoutMs),
        });
      } catch (err) {
        throw new HttpException({ statusCode: 503, error: 'Service Unavailable', message: `datasets service unreachable: ${(err as Error).message}` }, 503);
      }
      const body = await res.json().catch(() => ({ message: 'datasets service sent no JSON' }));
      if (!res.ok) throw new HttpException(body as Record<string, unknown>, res.status);
      return body;
    }
    try {
      const user = (req as Request & { user?: { email: string; roles: string[] } }).user;
      const request: DatasetForwardRequest = { payload, user: user && { email: user.email, roles: user.roles } };
      return await this.deps.bus.request(subject, request, this.deps.timeoutMs);
    } catch (err) {
      if (err instanceof BusNoRespondersError) {
        throw new HttpException({ statusCode: 503, error: 'Service Unavailable', message: 'datasets service is not running' }, 503);
      }
      if (err instanceof BusTimeoutError) {
        throw new HttpException({ statusCode: 504, error: 'Gateway Timeout', message: 'datasets service did not answer in time' }, 504);
      }
      if (err instanceof BusRemoteError) {
        const status = err.status && err.status >= 400 && err.status < 600 ? err.status : 502;
        throw new HttpException({ statusCode: status, error: status < 500 ? 'Bad Request' : 'Bad Gateway', message: err.message }, status);
      }
      // The bus itself is unavailable (e.g. NATS reconnecting): the dependency is down, not this service.
      throw new HttpException({ statusCode: 503, error: 'Service Unavailable', message: `datasets service unreachable: ${(err as Error).message}` }, 503);
    }
  }
}
