#!/usr/bin/env node
// `npm run train -- --model DIR --data FILE.jsonl --out DIR [options]`: the same train() a worker job runs.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseTrainArgs, usage, type ParsedTrainArgs } from './args.js';
import { OptionError } from './options.js';
import { assertExecutionProvider } from '../graph/execution-provider.js';
import { evaluate, train, type StepReport, type TrainOptions } from '../train/trainer.js';

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
}

const consoleIO: CliIO = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

/** Maps parsed CLI arguments onto the engine's TrainOptions (docs/ARCHITECTURE.md). */
export function toTrainOptions(a: ParsedTrainArgs): TrainOptions {
  const { evalOnly: _e, replayDataPath, replayFraction, ...rest } = a;
  return {
    ...rest,
    // --eval-only may omit --out: its graphs then go to a scratch directory.
    outDir: resolve(a.outDir ?? join(tmpdir(), `clara-eval-${process.pid}`)),
    replay: replayDataPath ? { dataPath: replayDataPath, fraction: replayFraction ?? 0.2 } : undefined,
  };
}

/** Runs the CLI; returns the process exit code (0 ok, 1 training failed, 2 bad arguments). */
export async function runTrainCli(argv: string[], io: CliIO = consoleIO): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(usage());
    return 0;
  }
  let args: ParsedTrainArgs;
  try {
    args = parseTrainArgs(argv);
  } catch (err) {
    if (err instanceof OptionError) {
      io.err(`error: ${err.message}`);
      io.err('run with --help for the list of options');
      return 2;
    }
    throw err;
  }
  const opts = toTrainOptions(args);
  if (opts.executionProvider) {
    // Before any work: missing CUDA libraries are an install problem with a known fix, not a training failure.
    try {
      await assertExecutionProvider(opts.executionProvider, '--execution-provider');
    } catch (err) {
      io.err(`error: ${(err as Error).message}`);
      return 1;
    }
  }
  const started = Date.now();
  try {
    if (args.evalOnly) {
      const r = await evaluate({ ...opts, evalDataPath: args.evalDataPath ?? args.dataPath });
      io.out(JSON.stringify({ eval_loss: r.evalLoss, examples: r.examples, tokens: r.tokens }));
      return 0;
    }
    const outDir = opts.outDir;
    mkdirSync(outDir, { recursive: true });
    const metrics = join(outDir, 'metrics.jsonl');
    const evalMetrics = join(outDir, 'eval_metrics.jsonl');
    if (!args.resumeFrom) {
      writeFileSync(metrics, '');
      writeFileSync(evalMetrics, '');
    }
    let stop = false;
    const onSigint = () => {
      io.err('stopping at the next step (Ctrl-C again to abort)');
      if (stop) process.exit(130);
      stop = true;
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await train(opts, {
        onStep: (r: StepReport) =>
          appendFileSync(
            metrics,
            JSON.stringify({
              step: r.step,
              loss: r.loss,
              lr: r.lr,
              grad_norm: r.gradNorm,
              epoch: r.epoch,
              tokens_per_sec: r.tokensPerSec,
              eta_sec: r.etaSec,
            }) + '\n',
          ),
        onEval: (r) => appendFileSync(evalMetrics, JSON.stringify({ step: r.step, eval_loss: r.evalLoss }) + '\n'),
        shouldStop: () => stop,
      });
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const evalPart = result.evalLoss !== undefined ? `, eval loss ${result.evalLoss.toFixed(4)}` : '';
      const mem = result.baseWeightBytes ? `, base linear weights ${(result.baseWeightBytes.stored / result.baseWeightBytes.fp32).toFixed(3)}× fp32` : '';
      const early = result.stopped ? ' (stopped early)' : '';
      io.out(`trained ${args.method} adapter: ${result.steps} steps${early}, final loss ${result.finalLoss.toFixed(4)}${evalPart}${mem}, ${secs}s → ${result.adapterDir}`);
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  } catch (err) {
    io.err(`training failed: ${(err as Error).message}`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runTrainCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
