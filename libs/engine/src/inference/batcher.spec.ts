import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContinuousBatcher, type FinishReason, type GenerationRequest } from './batcher.js';
import { OnnxRunner } from './onnx-runner.js';
import { randomLora, randomWeights, tinyConfig } from './testing.js';

const config = tinyConfig({ eosTokenId: 47 });
let runner: OnnxRunner;

beforeAll(async () => {
  runner = await OnnxRunner.create(config, randomWeights(config, 3), { numSlots: 4, maxRank: 4 });
  runner.setSlot(1, randomLora(config, 8, 4));
  runner.setSlot(2, randomLora(config, 9, 2));
});
afterAll(() => runner.dispose());

interface Outcome {
  ids: number[];
  reason?: FinishReason;
  logprobs: number[];
}

function run(batcher: ContinuousBatcher, req: Partial<GenerationRequest> & { promptIds: number[] }, stopAfter?: number) {
  const out: Outcome = { ids: [], logprobs: [] };
  const done = new Promise<Outcome>((resolve, reject) => {
    const handle = batcher.submit(
      { slot: 0, maxTokens: 6, sampling: { temperature: 0, topP: 1, topK: 0 }, stopTokenIds: [], logprobs: 0, ...req },
      {
        onToken: (t) => {
          out.ids.push(t.id);
          out.logprobs.push(t.logprob!);
          return stopAfter === undefined || out.ids.length < stopAfter;
        },
        onFinish: (reason) => resolve({ ...out, reason }),
        onError: reject,
      },
    );
    (out as Outcome & { handle?: unknown }).handle = handle;
  });
  return { done, out };
}

describe('ContinuousBatcher', () => {
  const requests = [
    { promptIds: [1, 4, 9], slot: 1 },
    { promptIds: [1, 30, 31, 32, 33], slot: 0 },
    { promptIds: [1, 7], slot: 2, maxTokens: 3 },
    { promptIds: [1, 4, 9], slot: 2 },
    { promptIds: [1, 12, 13], slot: 1, sampling: { temperature: 0.9, topP: 0.9, topK: 10, seed: 5 } },
  ];

  it('gives every request in a mixed-adapter batch exactly what it gets alone', async () => {
    const alone: Outcome[] = [];
    for (const r of requests) alone.push(await run(new ContinuousBatcher(runner, { maxBatch: 1 }), r).done);
    const steps: number[] = [];
    const batcher = new ContinuousBatcher(runner, { maxBatch: 3, onStep: (s) => steps.push(s.rows) });
    const together = await Promise.all(requests.map((r) => run(batcher, r).done));
    expect(Math.max(...steps)).toBe(3); // rows really shared steps
    together.forEach((t, i) => {
      expect(t.ids).toEqual(alone[i]!.ids);
      expect(t.reason).toBe('length');
      t.logprobs.forEach((lp, k) => expect(lp).toBeCloseTo(alone[i]!.logprobs[k]!, 4));
    });
    expect(together[2]!.ids).toHaveLength(3);
    expect(together[0]!.ids).not.toEqual(together[3]!.ids); // different adapters, same prompt
  });

  it('finishes with stop on an EOS token or when the sink says a stop sequence matched', async () => {
    const batcher = new ContinuousBatcher(runner, { maxBatch: 4 });
    const free = await run(batcher, { promptIds: [1, 4, 9], maxTokens: 5 }).done;
    const eos = await run(batcher, { promptIds: [1, 4, 9], maxTokens: 5, stopTokenIds: [free.ids[2]!] }).done;
    expect(eos.reason).toBe('stop');
    expect(eos.ids).toEqual(free.ids.slice(0, free.ids.indexOf(free.ids[2]!)));
    const sinkStop = await run(batcher, { promptIds: [1, 4, 9], maxTokens: 5 }, 2).done;
    expect(sinkStop).toMatchObject({ reason: 'stop', ids: free.ids.slice(0, 2) });
  });

  it('a cancelled request leaves the batch before the next step', async () => {
    const batcher = new ContinuousBatcher(runner, { maxBatch: 4 });
    const long = run(batcher, { promptIds: [1, 2, 3], maxTokens: 60 });
    const other = run(batcher, { promptIds: [1, 5], maxTokens: 20 });
    while (long.out.ids.length < 2) await new Promise((r) => setTimeout(r, 1));
    (long.out as unknown as { handle: { cancel(): void } }).handle.cancel();
    const res = await long.done;
    expect(res.reason).toBe('abort');
    const seen = res.ids.length;
    expect(batcher.batchSize).toBeLessThanOrEqual(2);
    await other.done;
    expect(long.out.ids.length).toBe(seen);
    expect(batcher.batchSize).toBe(0);
  });
});
