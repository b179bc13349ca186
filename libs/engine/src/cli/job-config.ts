import { readFile, realpath } from 'node:fs/promises';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { coerceOption, finishOptions, OptionError, snake, TRAIN_OPTIONS } from './options.js';
import type { TrainSettings } from '../train/trainer.js';

export type TrainerType = 'lora' | 'qlora' | 'continuous';

/** A job's training settings after validation: TrainOptions fields minus the paths the worker fills in. */
export interface JobTrainConfig extends TrainSettings {
  /** continuous training: registry id (optionally `id@version`) of the adapter to continue from */
  parentAdapter?: string;
  replayFraction?: number;
}

/** Continued training starts from a trained adapter, so it defaults to a gentler learning rate. */
export const CONTINUOUS_DEFAULT_LR = 5e-5;
export const CONTINUOUS_DEFAULT_REPLAY = 0.2;

const JOB_KEYS: Record<string, string> = Object.fromEntries(
  Object.entries(TRAIN_OPTIONS)
    .filter(([, s]) => !s.cliOnly)
    .map(([flag]) => [snake(flag), flag]),
);

/** Every key a job config accepts (snake_case). */
export const JOB_CONFIG_KEYS: readonly string[] = [...Object.keys(JOB_KEYS), 'parent_adapter'].sort();

/**
 * Validates a job's `config` object. Errors are OptionError whose `option` is the offending key as
 * `config.<key>` so the API can answer 400 naming it.
 */
export function parseJobConfig(config: unknown, trainerType: TrainerType): JobTrainConfig {
  if (config == null) config = {};
  if (typeof config !== 'object' || Array.isArray(config)) throw new OptionError('config', 'config must be a JSON object');
  const o: Record<string, unknown> = {};
  const name = (flag: string) => `config.${snake(flag)}`;
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (key === 'parent_adapter') {
      if (typeof value !== 'string' || !value) throw new OptionError('config.parent_adapter', 'config.parent_adapter must be an adapter id');
      o.parentAdapter = value;
      continue;
    }
    const flag = JOB_KEYS[key];
    if (!flag) throw new OptionError(`config.${key}`, `config.${key}: unknown key; accepted keys: ${JOB_CONFIG_KEYS.join(', ')}`);
    if (value === null || value === undefined) continue;
    o[TRAIN_OPTIONS[flag]!.field] = coerceOption(TRAIN_OPTIONS[flag]!, `config.${key}`, value);
  }
  if (trainerType === 'lora' || trainerType === 'qlora') {
    if (o.method !== undefined && o.method !== trainerType) {
      throw new OptionError('config.method', `config.method "${o.method}" contradicts trainer_type "${trainerType}"`);
    }
    o.method = trainerType;
    if (o.parentAdapter !== undefined) throw new OptionError('config.parent_adapter', 'config.parent_adapter needs trainer_type "continuous"');
    if (o.replayFraction !== undefined) throw new OptionError('config.replay_fraction', 'config.replay_fraction needs trainer_type "continuous"');
  } else {
    if (o.parentAdapter === undefined) throw new OptionError('config.parent_adapter', 'trainer_type "continuous" needs config.parent_adapter (the adapter to continue)');
    o.lr ??= CONTINUOUS_DEFAULT_LR;
    o.replayFraction ??= CONTINUOUS_DEFAULT_REPLAY;
  }
  finishOptions(o, name);
  return o as unknown as JobTrainConfig;
}

/**
 * Reads `config_path` (YAML or JSON) that must lie inside `configDir`; a path escaping it (.., absolute, symlink)
 * is refused with an OptionError on `config_path`.
 */
export async function readJobConfigFile(configDir: string, configPath: string): Promise<Record<string, unknown>> {
  const fail = (msg: string): never => {
    throw new OptionError('config_path', `config_path: ${msg}`);
  };
  if (typeof configPath !== 'string' || !configPath) fail('must be a non-empty string');
  if (isAbsolute(configPath)) fail('must be relative to the configuration directory');
  const root = await realpath(configDir).catch(() => fail(`configuration directory ${configDir} does not exist`));
  const target = resolve(root, configPath);
  const inside = (p: string) => {
    const rel = relative(root, p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  if (!inside(target)) fail('must stay inside the configuration directory');
  const real = await realpath(target).catch(() => fail(`file ${configPath} does not exist`));
  if (!inside(real)) fail('must stay inside the configuration directory');
  const text = await readFile(real, 'utf8').catch((e: Error) => fail(`cannot read ${configPath} (${e.message})`));
  const ext = extname(real).toLowerCase();
  let parsed: unknown;
  try {
    parsed = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    fail(`${configPath} is not valid ${ext === '.json' ? 'JSON' : 'YAML'} (${(err as Error).message.split('\n')[0]})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) fail(`${configPath} must hold a mapping of options`);
  // Seed-style files may nest the options under `training:`; accept both.
  const obj = parsed as Record<string, unknown>;
  return (obj.training && typeof obj.training === 'object' && !Array.isArray(obj.training) ? obj.training : obj) as Record<string, unknown>;
}

/** The training API's `hyperparameters` names (seed / HF style) → job config keys. */
export const HYPERPARAMETER_ALIASES: Record<string, string> = {
  learning_rate: 'lr',
  max_steps: 'steps',
  gradient_accumulation_steps: 'grad_accum',
  max_seq_length: 'seq_len',
  lora_rank: 'rank',
  lora_alpha: 'alpha',
  lora_dropout: 'dropout',
  target_modules: 'targets',
  lr_scheduler: 'scheduler',
  // Hugging Face TrainingArguments / PEFT LoraConfig spellings, common in existing YAML configs.
  num_train_epochs: 'epochs',
  per_device_train_batch_size: 'batch_size',
  lora_r: 'rank',
  r: 'rank',
  lr_scheduler_type: 'scheduler',
  use_rslora: 'rslora',
};

/**
 * One config from a job's three sources, later winning: config file < hyperparameters < inline config.
 * `hyperparameters.max_steps` overrides `epochs` (as the API documents). `adapter_name` is split off.
 */
export function mergeJobConfig(
  fromFile: Record<string, unknown> | null | undefined,
  hyperparameters: Record<string, unknown> | null | undefined,
  inline: Record<string, unknown> | null | undefined,
): { config: Record<string, unknown>; adapterName?: unknown } {
  const alias = (o: Record<string, unknown> | null | undefined) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined && v !== null) out[HYPERPARAMETER_ALIASES[k] ?? k] = v;
    return out;
  };
  const sources = [alias(fromFile), alias(hyperparameters), alias(inline)];
  const merged: Record<string, unknown> = Object.assign({}, ...sources);
  // steps and epochs exclude each other: the later source decides (within hyperparameters, max_steps wins).
  let last: 'steps' | 'epochs' | undefined;
  for (const src of sources) {
    if (src.steps !== undefined) last = 'steps';
    else if (src.epochs !== undefined) last = 'epochs';
  }
  const both = (o: Record<string, unknown>) => o.steps !== undefined && o.epochs !== undefined;
  // ...but one file or inline config naming both is a mistake the user must hear about.
  if (!both(sources[0]!) && !both(sources[2]!)) {
    if (last === 'steps') delete merged.epochs;
    if (last === 'epochs') delete merged.steps;
  }
  const { adapter_name: adapterName, ...config } = merged;
  return { config, adapterName };
}
