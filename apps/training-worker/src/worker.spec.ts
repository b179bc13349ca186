// TrainingWorker with a mocked repository and bus: run lifecycle decisions, no database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { TrainerRunner, TrainingJobView } from '@clara/contracts';
import type { TrainingJobRepository } from '@clara/data-access';
import { InProcessBus, createLogger } from '@clara/platform';
import { registerTrainer } from './trainers.js';
import { TrainingWorker } from './worker.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-wspec-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const job = (over: Partial<TrainingJobView> = {}) =>
  ({ job_id: '11111111-1111-4111-8111-111111111111', status: 'running', trainer_type: 'lora', hyperparameters: {}, config: null, dataset: null, config_path: null, base_model: 'm', attempts: 1, ...over }) as TrainingJobView;

function setup(claims: TrainingJobView[]) {
  const repo = {
    requeueExpired: vi.fn().mockResolvedValue([]),
    claimNext: vi.fn().mockImplementation(async () => {
      const j = claims.shift();
      return j ? { job: j, resumeFrom: null } : null;
    }),
    heartbeat: vi.fn().mockResolvedValue('running'),
    recordProgress: vi.fn().mockResolvedValue(true),
    recordCheckpoint: vi.fn().mockResolvedValue(true),
    recordEval: vi.fn().mockResolvedValue(true),
    complete: vi.fn().mockResolvedValue({ ok: true, adapterId: 'a1' }),
    fail: vi.fn().mockResolvedValue(true),
    markCancelled: vi.fn().mockResolvedValue(true),
    release: vi.fn().mockResolvedValue(true),
  };
  const bus = new InProcessBus();
  const worker = new TrainingWorker(repo as unknown as TrainingJobRepository, bus, {
    workerId: 'w', maxConcurrentJobs: 1, leaseMs: 1500, sweepIntervalMs: 60_000, progressIntervalMs: 0, dataDir, modelsDir: dataDir,
  }, createLogger('t', { level: 'error' }));
  return { repo, bus, worker };
}
const until = async (fn: () => boolean) => {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(fn()).toBe(true);
};
const undo: Array<() => void> = [];
afterEach(() => undo.splice(0).forEach((u) => u()));

describe('TrainingWorker', () => {
  it('fails a job whose trainer type is not registered, naming the type', async () => {
    const { repo, worker } = setup([job({ trainer_type: 'continuous' })]);
    await worker.start();
    await until(() => repo.fail.mock.calls.length === 1);
    expect(repo.fail.mock.calls[0][2]).toMatch(/no trainer is available for trainer_type "continuous"/);
    await worker.stop();
  });

  it('records reports in order and completes with the adapter for the registry', async () => {
    const runner: TrainerRunner = {
      async run(_j, ctx) {
        ctx.report({ kind: 'progress', step: 1, totalSteps: 2, loss: 2 });
        ctx.report({ kind: 'checkpoint', step: 1, dir: '/c1' });
        ctx.report({ kind: 'eval', step: 1, evalLoss: 1.5 });
        return { adapterDir: '/adapter', finalLoss: 1, steps: 2 };
      },
    };
    undo.push(registerTrainer('lora', runner));
    const { repo, worker } = setup([job({ dataset: 'x-version' })]);
    await worker.start();
    await until(() => repo.complete.mock.calls.length === 1);
    const order = [repo.recordProgress, repo.recordCheckpoint, repo.recordEval].map((f) => f.mock.invocationCallOrder[0]);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const [, , summary, adapter] = repo.complete.mock.calls[0];
    expect(summary).toMatchObject({ adapter_dir: '/adapter', final_loss: 1, steps: 2 });
    expect(adapter).toMatchObject({ baseModel: 'm', datasetRef: 'x-version', path: '/adapter' });
    await worker.stop();
  });

  it('stops a job at the next step when the cancel message arrives, and marks it cancelled', async () => {
    let steps = 0;
    undo.push(registerTrainer('lora', {
      async run(_j, ctx) {
        for (;;) {
          await new Promise((r) => setTimeout(r, 5));
          steps++;
          if (ctx.shouldStop()) return { stopped: true };
        }
      },
    }));
    const { repo, bus, worker } = setup([job()]);
    await worker.start();
    await until(() => steps > 3);
    await bus.publish('clara.training.control.11111111-1111-4111-8111-111111111111.cancel', {});
    await until(() => repo.markCancelled.mock.calls.length === 1);
    expect(repo.complete).not.toHaveBeenCalled();
    await worker.stop();
  });

  it('fails the job with the trainer error message', async () => {
    undo.push(registerTrainer('lora', { run: async () => Promise.reject(new Error('base model "m" not found')) }));
    const { repo, worker } = setup([job()]);
    await worker.start();
    await until(() => repo.fail.mock.calls.length === 1);
    expect(repo.fail.mock.calls[0][2]).toBe('base model "m" not found');
    await worker.stop();
  });
});
