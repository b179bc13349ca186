import type { Response } from 'express';
import { describe, expect, it } from 'vitest';
import { DatasetsController } from './datasets.controller.js';
import type { DatasetsService } from './datasets.service.js';

describe('DatasetsController readiness', () => {
  it('answers GET /ready with 503 "warming" until the search caches are warm, then 200 "ready"', () => {
    const service = { ready: false };
    const controller = new DatasetsController(service as DatasetsService);
    let status = 200;
    const res = { status: (code: number) => ((status = code), res) } as unknown as Response;
    expect(controller.ready(res)).toMatchObject({ status: 'warming', service: 'clara-datasets' });
    expect(status).toBe(503);
    service.ready = true;
    status = 200;
    expect(controller.ready(res)).toEqual({ status: 'ready', service: 'clara-datasets' });
    expect(status).toBe(200);
  });
});
