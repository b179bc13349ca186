import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StepReport, TrainHooks, TrainResult } from '../train/trainer.js';

/** The trainer's own report type, sent by the child as JSON (type-only import: the parent loads no ORT). */
export type StepReportLike = StepReport;

/** train()'s result as the child sent it (evaluate() mode sends its own fields). */
export type TrainResultLike = TrainResult & { [k: string]: unknown };

export type TrainProcessHooks = Pick<TrainHooks, 'onStep' | 'onEval' | 'onCheckpoint'>;

export interface TrainProcessOptions {
  /** where the options file and the stop file live (the job's work directory) */
  workDir: string;
  mode?: 'train' | 'evaluate';
  /** V8 heap cap of the child; beyond it the child dies and the job fails, the caller survives */
  maxOldSpaceMb?: number;
  /** RLIMIT_FSIZE of the child (ulimit -f): a run writing a bigger file fails as disk_full instead of filling the disk */
  maxFileSizeMb?: number;
  env?: NodeJS.ProcessEnv;
}

export class TrainProcessError extends Error {
  constructor(
    message: string,
    readonly reason: 'error' | 'out_of_memory' | 'disk_full' | 'killed' | 'crashed',
  ) {
    super(message);
    this.name = 'TrainProcessError';
  }
}

export interface TrainProcessHandle {
  readonly pid: number;
  readonly result: Promise<TrainResultLike>;
  /** cancel: the run stops at its next step boundary and saves nothing more */
  requestStop(): void;
  kill(signal?: NodeJS.Signals): void;
}

/** The built child entry; from sources (vitest) we still run the SWC build in dist/, since Node 20 cannot run .ts. */
export function childScriptPath(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.endsWith('.ts') ? here.replace(/([\\/])src([\\/])(?!.*[\\/]src[\\/])/, '$1dist$2').replace(/\.ts$/, '.js') : here;
  return join(js, '..', 'train-child.js');
}

/**
 * Runs train() (or evaluate()) in a child process so the caller's event loop stays free and a crash, OOM kill or
 * native abort in training cannot take the caller down.
 */
export function startTrainProcess(options: Record<string, unknown>, hooks: TrainProcessHooks = {}, o: TrainProcessOptions): TrainProcessHandle {
  mkdirSync(o.workDir, { recursive: true });
  const optionsFile = join(o.workDir, 'train-options.json');
  const stopFile = join(o.workDir, 'STOP');
  rmSync(stopFile, { force: true });
  writeFileSync(optionsFile, JSON.stringify({ mode: o.mode ?? 'train', options }));
  const execArgv = o.maxOldSpaceMb ? [`--max-old-space-size=${o.maxOldSpaceMb}`] : [];
  const args = [...execArgv, childScriptPath(), optionsFile, stopFile];
  const [cmd, argv] = o.maxFileSizeMb
    ? ['/bin/sh', ['-c', `ulimit -f ${Math.max(1, Math.floor(o.maxFileSizeMb * 2048))} && exec "$0" "$@"`, process.execPath, ...args]]
    : [process.execPath, args];
  const child: ChildProcess = spawn(cmd, argv, {
    stdio: ['ignore', 'inherit', 'pipe', 'pipe'],
    env: o.env ?? process.env,
  });
  let stderrTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString()).slice(-4000);
  });
  let done: TrainResultLike | undefined;
  let failure: { message: string; code?: string } | undefined;
  const lines = createInterface({ input: child.stdio[3] as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    let msg: { type: string; report?: never; result?: TrainResultLike; message?: string; code?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    try {
      if (msg.type === 'step') hooks.onStep?.(msg.report!);
      else if (msg.type === 'eval') hooks.onEval?.(msg.report!);
      else if (msg.type === 'checkpoint') hooks.onCheckpoint?.(msg.report!);
      else if (msg.type === 'done') done = msg.result;
      else if (msg.type === 'error') failure = { message: msg.message ?? 'unknown error', code: msg.code };
    } catch {
      // a failing hook must not break the protocol
    }
  });
  const linesClosed = new Promise<void>((r) => lines.once('close', () => r()));
  const result = new Promise<TrainResultLike>((resolve, reject) => {
    child.once('error', (err) => reject(new TrainProcessError(`cannot start training process: ${err.message}`, 'crashed')));
    child.once('exit', async (code, signal) => {
      await linesClosed;
      if (done && code === 0) return resolve(done);
      if (failure) {
        const oom = /out of memory|ENOMEM|bad_alloc|Failed to allocate/i.test(failure.message);
        const disk = ['ENOSPC', 'EDQUOT', 'EFBIG'].includes(failure.code ?? '') || /ENOSPC|EDQUOT|EFBIG|no space left|file too large/i.test(failure.message);
        return reject(new TrainProcessError(failure.message, oom ? 'out_of_memory' : disk ? 'disk_full' : 'error'));
      }
      if (/heap out of memory|Allocation failed|bad_alloc/i.test(stderrTail)) {
        return reject(new TrainProcessError('training ran out of memory (the process exceeded its memory limit)', 'out_of_memory'));
      }
      if (signal === 'SIGKILL') {
        return reject(new TrainProcessError('training process was killed (SIGKILL; the system may have run out of memory)', 'killed'));
      }
      // The most telling lines of a crash: the error message(s), not Node's version footer.
      const lines = stderrTail.split('\n').map((l) => l.trim()).filter((l) => l && !/^Node\.js v/.test(l) && !/^at /.test(l));
      const errorLine = lines.find((l) => /Error|error:/.test(l));
      const tail = [...new Set([errorLine, ...lines.slice(-2)].filter(Boolean))].join(' | ');
      reject(new TrainProcessError(`training process exited unexpectedly (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`, 'crashed'));
    });
  });
  return {
    pid: child.pid ?? -1,
    result,
    requestStop: () => writeFileSync(stopFile, String(Date.now())),
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
    },
  };
}
