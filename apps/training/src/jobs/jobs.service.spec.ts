// JobsService with a mocked repository and bus: the use-case rules, no database.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadRequestException, ConflictException, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TrainingJobView } from '@clara/contracts';
import { createLogger } from '@clara/platform';
import { JobsService, type TrainingDeps } from './jobs.service.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-svc-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
mkdirSync(join(dataDir, 'd'));
writeFileSync(join(dataDir, 'd', 'a.jsonl'), '{}\n');
const view = (over: Partial<TrainingJobView> = {}) =>
  ({ job_id: 'j1', status: 'pending', trainer_type: 'lora', priority: 5, tags: [], base_model: 'm', dataset: 'd/a.jsonl', created_by: 'ann', created_at: '2026-01-01T00:00:00.000Z', last_seq: 1, ...over }) as TrainingJobView;

let jobs: Record<string, ReturnType<typeof vi.fn>>;
let bus: { publish: ReturnType<typeof vi.fn> };
let svc: JobsService;
beforeEach(() => {
  jobs = { create: vi.fn(), findById: vi.fn(), list: vi.fn(), requestCancel: vi.fn(), events: vi.fn() };
  bus = { publish: vi.fn().mockResolvedValue(undefined) };
  svc = new JobsService({ jobs, bus, dataDir, logger: createLogger('t', { level: 'error' }) } as unknown as TrainingDeps);
});

describe('JobsService.create', () => {
  const dto = { trainer_type: 'lora' as const, base_model: 'm', dataset: 'd/a.jsonl', tags: ['x', 'x', 'y'] };

  it('stores defaults, de-duplicates tags, wakes the workers', async () => {
    jobs.create.mockResolvedValue({ kind: 'created', job: view() });
    const r = await svc.create(dto, 'ann');
    expect(jobs.create).toHaveBeenCalledWith(
      expect.objectContaining({ priority: 5, tags: ['x', 'y'], maxAttempts: 3, createdBy: 'ann', trainerType: 'lora' }),
      { idempotencyKey: undefined, requestHash: undefined },
    );
    expect(r).toMatchObject({ replayed: false, body: { success: true, job_id: 'j1', status: 'pending', message: 'Training job created: j1' } });
    expect(bus.publish).toHaveBeenCalledWith('clara.training.queue.wake', expect.objectContaining({ job_id: 'j1' }));
  });

  it('creates resolved together send one wake-up, naming the highest-priority job', async () => {
    jobs.create
      .mockResolvedValueOnce({ kind: 'created', job: view({ job_id: 'a', priority: 5 }) })
      .mockResolvedValueOnce({ kind: 'created', job: view({ job_id: 'b', priority: 9 }) })
      .mockResolvedValueOnce({ kind: 'created', job: view({ job_id: 'c', priority: 9 }) });
    await Promise.all([svc.create(dto, 'ann'), svc.create(dto, 'ann'), svc.create(dto, 'ann')]);
    expect(bus.publish.mock.calls).toEqual([['clara.training.queue.wake', { job_id: 'b', priority: 9 }]]);
    jobs.create.mockResolvedValueOnce({ kind: 'created', job: view({ job_id: 'd', priority: 1 }) });
    await svc.create(dto, 'ann'); // a later create wakes again
    expect(bus.publish.mock.calls[1]).toEqual(['clara.training.queue.wake', { job_id: 'd', priority: 1 }]);
  });

  it('hashes the request for idempotency: same body → same hash', async () => {
    jobs.create.mockResolvedValue({ kind: 'replayed', job: view() });
    await svc.create(dto, 'ann', 'k');
    await svc.create({ ...dto, tags: ['x', 'y'] }, 'ann', 'k');
    const [a, b] = jobs.create.mock.calls.map((c) => c[1].requestHash);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).toBe(b);
    expect(bus.publish).not.toHaveBeenCalled();
  });

  it('maps a reused key with another body to 422 and bad keys to 400', async () => {
    jobs.create.mockResolvedValue({ kind: 'key_conflict', job: view() });
    await expect(svc.create(dto, 'ann', 'k')).rejects.toBeInstanceOf(UnprocessableEntityException);
    await expect(svc.create(dto, 'ann', 'bad key with spaces')).rejects.toBeInstanceOf(BadRequestException);
  });

  it('refuses paths outside the data directory before touching the repository', async () => {
    await expect(svc.create({ ...dto, dataset: '../x.jsonl' }, 'ann')).rejects.toThrow(/dataset/);
    await expect(svc.create({ ...dto, config_path: 'nope.yaml' }, 'ann')).rejects.toThrow(/config_path file not found/);
    expect(jobs.create).not.toHaveBeenCalled();
  });

  it('accepts a dataset version id without a file', async () => {
    jobs.create.mockResolvedValue({ kind: 'created', job: view() });
    await svc.create({ ...dto, dataset: 'dsv_123' }, 'ann');
    expect(jobs.create).toHaveBeenCalled();
  });
});

describe('JobsService.cancel and reads', () => {
  it('maps repository outcomes to HTTP semantics and tells the worker', async () => {
    jobs.requestCancel.mockResolvedValueOnce({ kind: 'not_found' });
    await expect(svc.cancel('j1', 'ann')).rejects.toBeInstanceOf(NotFoundException);
    jobs.requestCancel.mockResolvedValueOnce({ kind: 'finished', job: view({ status: 'completed' }) });
    await expect(svc.cancel('j1', 'ann')).rejects.toBeInstanceOf(ConflictException);
    jobs.requestCancel.mockResolvedValueOnce({ kind: 'cancelled', job: view({ status: 'cancelled' }) });
    expect(await svc.cancel('j1', 'ann')).toMatchObject({ status: 'cancelled' });
    jobs.requestCancel.mockResolvedValueOnce({ kind: 'cancelling', job: view({ status: 'cancelling' }), alreadyRequested: false });
    expect(await svc.cancel('j1', 'ann')).toMatchObject({ status: 'cancelling' });
    expect(bus.publish).toHaveBeenCalledWith('clara.training.control.j1.cancel', { job_id: 'j1' });
  });

  it('404s unknown jobs and pages lists', async () => {
    jobs.findById.mockResolvedValue(null);
    await expect(svc.get('nope')).rejects.toBeInstanceOf(NotFoundException);
    jobs.list.mockResolvedValue({ jobs: [view()], nextCursor: 'abc' });
    expect(await svc.list({ limit: 1 })).toEqual({ jobs: [view()], count: 1, next_cursor: 'abc' });
    expect(jobs.list).toHaveBeenCalledWith(expect.objectContaining({ limit: 1 }));
  });
});
