// The dataset forwarding maps bus outcomes to HTTP: reply → body, remote 4xx → same 4xx, nobody → 503, slow → 504.
import { HttpException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { Subjects } from '@clara/contracts';
import { InProcessBus } from '@clara/platform';
import { DatasetsProxyController } from './datasets-proxy.controller.js';

const req = { headers: {}, user: { email: 'ann@clara.local', roles: ['analyst'], sub: 'x' } } as never;

async function status(p: Promise<unknown>) {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as HttpException).getStatus();
  }
}

describe('DatasetsProxyController over the bus', () => {
  it('forwards body and caller, and maps every failure to the right status', async () => {
    const bus = new InProcessBus();
    const proxy = new DatasetsProxyController({ bus, timeoutMs: 200 });
    expect(await status(proxy.search({ query_text: 'x' }, req))).toBe(503); // nobody answers yet
    const seen: unknown[] = [];
    await bus.reply(Subjects.datasetSearchRequest, (r: { payload: { top_k?: number } }) => {
      seen.push(r);
      if (r.payload.top_k === -1) throw Object.assign(new Error('top_k must be positive'), { status: 400 });
      if (r.payload.top_k === 0) return new Promise(() => undefined); // never answers
      return { success: true, documents_found: 0 };
    });
    expect(await proxy.search({ query_text: 'x', top_k: 5 }, req)).toEqual({ success: true, documents_found: 0 });
    expect(seen[0]).toEqual({ payload: { query_text: 'x', top_k: 5 }, user: { email: 'ann@clara.local', roles: ['analyst'] } });
    const bad = proxy.search({ top_k: -1 }, req);
    expect(await status(bad)).toBe(400);
    await expect(proxy.search({ top_k: -1 }, req)).rejects.toThrow('top_k must be positive');
    expect(await status(proxy.search({ top_k: 0 }, req))).toBe(504);
    expect(await status(proxy.search([] as never, req))).toBe(400);
    await bus.close();
    expect(await status(proxy.statistics({}, req))).toBe(503); // the bus itself is gone
  });
});
