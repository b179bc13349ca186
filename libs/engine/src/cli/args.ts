import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { coerceOption, finishOptions, OptionError, TRAIN_OPTIONS } from './options.js';
import type { TrainOptions } from '../train/trainer.js';

/** The fields of TrainOptions (docs/ARCHITECTURE.md) the CLI fills, plus CLI-only ones. */
export interface ParsedTrainArgs extends Omit<TrainOptions, 'replay' | 'keepCheckpoints'> {
  evalOnly: boolean;
  useRslora: boolean;
  replayDataPath?: string;
  replayFraction?: number;
}

export function usage(): string {
  const lines = ['usage: npm run train -- --model DIR --data FILE.jsonl --out DIR [options]', ''];
  for (const [flag, s] of Object.entries(TRAIN_OPTIONS)) {
    const v = s.kind === 'boolean' ? '' : s.kind === 'enum' ? ` ${s.values!.join('|')}` : s.kind === 'list' ? ' a,b,…' : ` ${s.kind.toUpperCase()}`;
    const def = s.default !== undefined && s.kind !== 'boolean' ? ` (default ${Array.isArray(s.default) ? s.default.join(',') : s.default})` : '';
    lines.push(`  --${flag}${v}`.padEnd(44) + s.help + def);
  }
  return lines.join('\n');
}

/** Parses `--flag value` / `--flag=value` arguments; throws OptionError naming the flag. */
export function parseTrainArgs(argv: string[]): ParsedTrainArgs {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new OptionError(arg, `unexpected argument ${JSON.stringify(arg)} (options start with --)`);
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = TRAIN_OPTIONS[flag];
    if (!spec) throw new OptionError(`--${flag}`, `unknown option --${flag} (see --help)`);
    let raw: string | boolean;
    if (eq > 0) raw = arg.slice(eq + 1);
    else if (spec.kind === 'boolean') raw = argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i]! : true;
    else {
      if (i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) throw new OptionError(`--${flag}`, `--${flag} needs a value`);
      raw = argv[++i]!;
    }
    if (o[spec.field] !== undefined) throw new OptionError(`--${flag}`, `--${flag} given twice`);
    o[spec.field] = coerceOption(spec, `--${flag}`, raw);
  }
  for (const req of ['model', 'data', 'out'] as const) {
    if (o[TRAIN_OPTIONS[req]!.field] === undefined && !(req === 'out' && o.evalOnly)) throw new OptionError(`--${req}`, `--${req} is required`);
  }
  finishOptions(o, (f) => `--${f}`);
  const args = o as unknown as ParsedTrainArgs;
  args.modelDir = resolve(args.modelDir);
  if (!existsSync(join(args.modelDir, 'config.json'))) throw new OptionError('--model', `--model: ${args.modelDir} has no config.json`);
  for (const [flag, field] of [['data', 'dataPath'], ['eval-data', 'evalDataPath'], ['replay-data', 'replayDataPath']] as const) {
    const p = args[field];
    if (p !== undefined && !(existsSync(p) && statSync(p).isFile())) throw new OptionError(`--${flag}`, `--${flag}: file ${p} does not exist`);
  }
  for (const [flag, field] of [['init-adapter', 'initAdapter'], ['resume-from', 'resumeFrom']] as const) {
    const p = args[field];
    if (p !== undefined && !(existsSync(p) && statSync(p).isDirectory())) throw new OptionError(`--${flag}`, `--${flag}: directory ${p} does not exist`);
  }
  if (args.initAdapter && !existsSync(join(args.initAdapter, 'adapter_config.json'))) {
    throw new OptionError('--init-adapter', `--init-adapter: ${args.initAdapter} has no adapter_config.json`);
  }
  if (args.replayDataPath && args.replayFraction === undefined) args.replayFraction = 0.2;
  return args;
}
