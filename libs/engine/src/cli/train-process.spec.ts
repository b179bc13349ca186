import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childScriptPath, startTrainProcess, type StepReportLike } from './train-process.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';
import { parseJobConfig } from './job-config.js';

// The child runs the built JS (dist/): `npm test` builds first; run `npm run build` before running this file alone.
let dir: string;
let model: string;
let data: string;
beforeAll(async () => {
  if (!existsSync(childScriptPath())) throw new Error(`${childScriptPath()} is missing: run \`npm run build\` first`);
  dir = await mkdtemp(join(tmpdir(), 'clara-proc-'));
  model = join(dir, 'model');
  await writeTinyCheckpoint(model, { initStd: 0.15, vocabSize: 320, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, seed: 3 });
  data = join(dir, 'd.jsonl');
  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: `Repeat ${i}`, output: `${i} ${i} ${i}` }));
  await writeFile(data, rows.join('\n') + '\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function options(out: string, extra: Record<string, unknown> = {}) {
  const cfg = parseJobConfig({ steps: 24, batch_size: 2, grad_accum: 2, lr: 0.005, seq_len: 128, dropout: 0.1, save_steps: 5, rank: 4 }, 'lora');
  return { ...cfg, modelDir: model, dataPath: data, outDir: out, threads: 1, ...extra };
}

describe('training in a child process', () => {
  it('SIGKILL mid-run, resume from the last checkpoint → the same adapter as an uninterrupted run', async () => {
    const full = join(dir, 'full');
    const steps: StepReportLike[] = [];
    const r = await startTrainProcess(options(full), { onStep: (s) => steps.push(s) }, { workDir: join(dir, 'work-full') }).result;
    expect(r.steps).toBe(24);
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));

    const cut = join(dir, 'cut');
    let killedAt = 0;
    const checkpoints: number[] = [];
    const h = startTrainProcess(
      options(cut),
      {
        onCheckpoint: (c) => checkpoints.push(c.step),
        onStep: (s) => {
          if (s.step === 13 && !killedAt) {
            killedAt = s.step;
            h.kill('SIGKILL');
          }
        },
      },
      { workDir: join(dir, 'work-cut') },
    );
    await expect(h.result).rejects.toMatchObject({ reason: 'killed' });
    expect(checkpoints).toContain(10);
    expect(existsSync(join(cut, 'adapter_model.safetensors'))).toBe(false);

    const resumedSteps: number[] = [];
    const r2 = await startTrainProcess(options(cut, { resumeFrom: join(cut, 'checkpoints') }), { onStep: (s) => resumedSteps.push(s.step) }, { workDir: join(dir, 'work-cut') }).result;
    expect(r2.steps).toBe(24);
    expect(resumedSteps[0]).toBeGreaterThan(10); // continued, did not restart
    const a = await readFile(join(full, 'adapter_model.safetensors'));
    const b = await readFile(join(cut, 'adapter_model.safetensors'));
    expect(b.equals(a)).toBe(true);
  });

  it('requestStop ends the run at the next step and still writes the adapter', async () => {
    const out = join(dir, 'stop');
    const h = startTrainProcess(options(out, { steps: undefined, epochs: 50 }), { onStep: (s) => s.step === 3 && h.requestStop() }, { workDir: join(dir, 'work-stop') });
    const r = await h.result;
    expect(r.stopped).toBe(true);
    expect(r.steps).toBeGreaterThanOrEqual(3);
    expect(r.steps).toBeLessThan(6);
    expect(existsSync(join(out, 'adapter_model.safetensors'))).toBe(true);
  });

  it('a run that cannot write its files (file size limit) fails as disk_full', async () => {
    const out = join(dir, 'full');
    await expect(startTrainProcess(options(out), {}, { workDir: join(dir, 'work-full-disk'), maxFileSizeMb: 0.01 }).result).rejects.toMatchObject({
      reason: 'disk_full',
      message: expect.stringMatching(/EFBIG|file too large/),
    });
  });

  it('a failing run rejects with the reason; a missing data file is named', async () => {
    const out = join(dir, 'fail');
    await expect(startTrainProcess(options(out, { dataPath: join(dir, 'missing.jsonl') }), {}, { workDir: join(dir, 'work-fail') }).result).rejects.toMatchObject({
      reason: 'error',
      message: expect.stringMatching(/missing.jsonl does not exist/),
    });
  });
});
