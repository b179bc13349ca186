// Child-process entry for one training run (spawned by train-process.ts). Runs train() and reports every event as
// one JSON line on fd 3: writeSync on a pipe is synchronous, so reports leave even while training blocks the loop.
import { existsSync, readFileSync, writeSync } from 'node:fs';

const REPORT_FD = 3;

function report(msg: unknown): void {
  try {
    writeSync(REPORT_FD, JSON.stringify(msg) + '\n');
  } catch {
    // The parent is gone (EPIPE): nobody will use further work; the last checkpoint is on disk.
    process.exit(137);
  }
}

const [optionsFile, stopFile] = process.argv.slice(2);
if (!optionsFile || !stopFile) {
  process.stderr.write('usage: train-child.js OPTIONS.json STOP_FILE\n');
  process.exit(2);
}
const parentPid = process.ppid;
const { mode, options } = JSON.parse(readFileSync(optionsFile, 'utf8')) as { mode: 'train' | 'evaluate'; options: Record<string, unknown> };

try {
  const trainer = await import('../train/trainer.js');
  if (mode === 'evaluate') {
    report({ type: 'done', result: await trainer.evaluate(options as never) });
  } else {
    const result = await trainer.train(options as never, {
      onStep: (r: unknown) => report({ type: 'step', report: r }),
      onEval: (r: unknown) => report({ type: 'eval', report: r }),
      onCheckpoint: (r: unknown) => report({ type: 'checkpoint', report: r }),
      // Checked at each step: a stop file (cancel) or a dead parent (re-parented child) ends the run.
      shouldStop: () => {
        if (process.ppid !== parentPid) process.exit(137);
        return existsSync(stopFile);
      },
    });
    report({ type: 'done', result });
  }
  process.exit(0);
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  report({ type: 'error', message: e.message, code: e.code });
  process.exit(1);
}
