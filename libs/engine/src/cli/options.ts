import { DEFAULT_TARGETS } from '../io/peft.js';
import { EXECUTION_PROVIDERS } from '../graph/execution-provider.js';

/**
 * The training options, defined once: the CLI reads them as --kebab-case flags, a worker job's `config` as
 * snake_case keys. Each option says its type, range and default, so both paths validate identically.
 */
type Kind = 'string' | 'int' | 'number' | 'boolean' | 'enum' | 'list';

export interface OptionSpec {
  /** TrainOptions field */
  field: string;
  kind: Kind;
  help: string;
  min?: number;
  max?: number;
  /** min is exclusive */
  minExclusive?: boolean;
  maxExclusive?: boolean;
  values?: readonly string[];
  default?: unknown;
  /** only on the command line (paths chosen by the worker itself in a job) */
  cliOnly?: boolean;
}

const TARGETS = DEFAULT_TARGETS as readonly string[];

export const TRAIN_OPTIONS: Record<string, OptionSpec> = {
  model: { field: 'modelDir', kind: 'string', help: 'Hugging Face checkpoint directory', cliOnly: true },
  data: { field: 'dataPath', kind: 'string', help: 'training data (JSONL)', cliOnly: true },
  out: { field: 'outDir', kind: 'string', help: 'output directory (adapter, metrics.jsonl, checkpoints)', cliOnly: true },
  'init-adapter': { field: 'initAdapter', kind: 'string', help: 'start from this PEFT adapter directory', cliOnly: true },
  'eval-data': { field: 'evalDataPath', kind: 'string', help: 'separate eval JSONL', cliOnly: true },
  'resume-from': { field: 'resumeFrom', kind: 'string', help: 'resume from this checkpoint directory', cliOnly: true },
  'replay-data': { field: 'replayDataPath', kind: 'string', help: 'older JSONL mixed in (continued training)', cliOnly: true },
  threads: { field: 'threads', kind: 'int', min: 1, max: 256, help: 'onnxruntime intra-op threads (default 2)', cliOnly: true },
  'execution-provider': { field: 'executionProvider', kind: 'enum', values: EXECUTION_PROVIDERS, cliOnly: true, help: 'onnxruntime execution provider (default cpu; cuda needs its CUDA 12 libraries, see README)' },
  'eval-only': { field: 'evalOnly', kind: 'boolean', help: 'only compute the eval loss (of --init-adapter if given) and print it as JSON', cliOnly: true, default: false },
  method: { field: 'method', kind: 'enum', values: ['lora', 'qlora'], default: 'lora', help: 'lora, or qlora (4-bit base weights)' },
  optimizer: { field: 'optimizer', kind: 'enum', values: ['adamw', 'sgd'], default: 'adamw', help: 'optimizer' },
  lr: { field: 'lr', kind: 'number', min: 0, minExclusive: true, max: 10, default: 2e-4, help: 'peak learning rate' },
  'weight-decay': { field: 'weightDecay', kind: 'number', min: 0, max: 1, default: 0, help: 'decoupled weight decay (adamw)' },
  steps: { field: 'steps', kind: 'int', min: 1, max: 10_000_000, help: 'optimizer steps (instead of --epochs)' },
  epochs: { field: 'epochs', kind: 'number', min: 0, minExclusive: true, max: 10_000, help: 'epochs (default 1 when --steps is not given)' },
  'batch-size': { field: 'batchSize', kind: 'int', min: 1, max: 4096, default: 4, help: 'examples per micro-batch' },
  'grad-accum': { field: 'gradAccum', kind: 'int', min: 1, max: 4096, default: 1, help: 'micro-batches per optimizer step' },
  'seq-len': { field: 'seqLen', kind: 'int', min: 2, max: 131072, default: 256, help: 'max tokens per example (longer ones are truncated)' },
  rank: { field: 'rank', kind: 'int', min: 1, max: 4096, default: 8, help: 'LoRA rank r' },
  alpha: { field: 'alpha', kind: 'number', min: 0, minExclusive: true, max: 1e6, default: 16, help: 'LoRA alpha (scale alpha/r)' },
  dropout: { field: 'dropout', kind: 'number', min: 0, max: 1, maxExclusive: true, default: 0.05, help: 'LoRA dropout' },
  targets: { field: 'targets', kind: 'list', values: TARGETS, default: [...TARGETS], help: 'comma-separated target modules' },
  'max-grad-norm': { field: 'maxGradNorm', kind: 'number', min: 0, max: 1e6, default: 1, help: 'gradient clipping (0 = off)' },
  seed: { field: 'seed', kind: 'int', min: 0, max: 2 ** 31 - 1, default: 42, help: 'random seed' },
  scheduler: { field: 'scheduler', kind: 'enum', values: ['constant', 'linear', 'cosine'], default: 'linear', help: 'learning-rate schedule' },
  'warmup-steps': { field: 'warmupSteps', kind: 'int', min: 0, max: 10_000_000, default: 0, help: 'linear warmup steps' },
  'eval-steps': { field: 'evalSteps', kind: 'int', min: 1, max: 10_000_000, help: 'evaluate every N steps' },
  'save-steps': { field: 'saveSteps', kind: 'int', min: 1, max: 10_000_000, help: 'checkpoint every N steps' },
  'early-stopping-patience': { field: 'earlyStoppingPatience', kind: 'int', min: 1, max: 1_000_000, help: 'stop after N evals without improvement' },
  'eval-split': { field: 'evalSplit', kind: 'number', min: 0, max: 1, minExclusive: true, maxExclusive: true, help: 'hold out this fraction of --data for eval' },
  rslora: { field: 'useRslora', kind: 'boolean', default: false, help: 'rank-stabilised LoRA scale alpha/sqrt(r)' },
  packing: { field: 'packing', kind: 'boolean', default: false, help: 'pack examples into full seq-len rows' },
  'replay-fraction': { field: 'replayFraction', kind: 'number', min: 0, max: 1, maxExclusive: true, help: 'share of replayed older examples' },
};

export class OptionError extends Error {
  constructor(
    /** the flag or config key at fault */
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'OptionError';
  }
}

/** Converts and range-checks one value; `name` is how the user wrote the option (flag or key). */
export function coerceOption(spec: OptionSpec, name: string, raw: unknown): unknown {
  const fail = (msg: string): never => {
    throw new OptionError(name, `${name}: ${msg}`);
  };
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.length === 0) fail('must be a non-empty string');
      return raw;
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '') return true;
      if (raw === 'false') return false;
      return fail('must be true or false');
    case 'enum':
      if (typeof raw !== 'string' || !spec.values!.includes(raw)) fail(`must be one of ${spec.values!.join(', ')} (got ${JSON.stringify(raw)})`);
      return raw;
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : fail('must be a list');
      if (items.length === 0) fail('must name at least one module');
      for (const it of items) if (typeof it !== 'string' || !spec.values!.includes(it)) fail(`unknown module ${JSON.stringify(it)}; valid: ${spec.values!.join(', ')}`);
      return [...new Set(items as string[])];
    }
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) fail(`must be a number (got ${JSON.stringify(raw)})`);
      if (spec.kind === 'int' && !Number.isInteger(n)) fail(`must be an integer (got ${n})`);
      if (spec.min !== undefined && (spec.minExclusive ? n <= spec.min : n < spec.min)) fail(`must be ${spec.minExclusive ? '>' : '>='} ${spec.min} (got ${n})`);
      if (spec.max !== undefined && (spec.maxExclusive ? n >= spec.max : n > spec.max)) fail(`must be ${spec.maxExclusive ? '<' : '<='} ${spec.max} (got ${n})`);
      return n;
    }
  }
}

/** Field-level defaults and cross-field rules shared by the CLI and job configs. */
export function finishOptions(o: Record<string, unknown>, names: (flag: string) => string): Record<string, unknown> {
  for (const spec of Object.values(TRAIN_OPTIONS)) {
    if (o[spec.field] === undefined && spec.default !== undefined) o[spec.field] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  if (o.steps !== undefined && o.epochs !== undefined) throw new OptionError(names('steps'), `give either ${names('steps')} or ${names('epochs')}, not both`);
  if (o.steps === undefined && o.epochs === undefined) o.epochs = 1;
  if (o.replayFraction !== undefined && o.replayDataPath === undefined && names('replay-fraction') === '--replay-fraction') {
    throw new OptionError('--replay-fraction', '--replay-fraction needs --replay-data');
  }
  if (o.evalSplit !== undefined && o.evalDataPath !== undefined) {
    throw new OptionError(names('eval-split'), `give either ${names('eval-split')} or ${names('eval-data')}, not both`);
  }
  return o;
}

export const snake = (flag: string) => flag.replace(/-/g, '_');
