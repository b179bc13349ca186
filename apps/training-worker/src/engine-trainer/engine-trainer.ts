/**
 * The engine's LoRA / QLoRA / continuous trainers as worker plug-ins: a job becomes TrainOptions, training runs in
 * a child process (startTrainProcess), its reports become job events, and the PEFT adapter it writes is returned
 * for registration. Checkpoints live in <jobDir>/output/checkpoints; a re-run of the job resumes from the newest
 * valid one there (a corrupt one falls back to the previous).
 */
import { copyFile, mkdir, readdir, access } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { TrainerContext, TrainerJob, TrainerResult, TrainerRunner, TrainerType } from '@clara/contracts';
import { mergeJobConfig, parseJobConfig, readJobConfigFile, type JobTrainConfig } from '@clara/engine/cli/job-config';
import { startTrainProcess, TrainProcessError } from '@clara/engine/cli/train-process';
import { registerTrainer, getTrainer } from '../trainers.js';
import type { ExecutionProvider } from './execution-provider.js';

/** The registry facts a continued training needs about its parent adapter. */
export interface ParentAdapter {
  id: string;
  name: string;
  version: number;
  path: string;
  baseModel: string;
  datasetRef: string | null;
}

/** Exports a dataset version (id or `dataset@number`) to JSONL files in the data directory (datasets service). */
export type DatasetExporter = (version: string, o: { jobId?: string; evalFraction?: number; seed?: number }) => Promise<{ trainPath: string; evalPath: string | null }>;

export interface EngineTrainerDeps {
  /** Absent: only JSONL path datasets can be trained on. */
  exportDataset?: DatasetExporter;
  /** Finds an adapter by registry id (or `name@version` / `name` = newest version). */
  findAdapter(ref: string): Promise<ParentAdapter | null>;
  executionProvider: ExecutionProvider;
  threads: number;
  /** V8 heap cap of each training process (MB); 0 = Node's default */
  maxOldSpaceMb?: number;
  /** largest file a training process may write (MB); 0 = no limit */
  maxFileSizeMb?: number;
}

/** A job problem the user must fix (missing model/dataset/adapter, bad config). */
export class JobInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobInputError';
  }
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** models/<base_model> with a config.json, or a JobInputError naming what is there. */
export async function resolveBaseModel(modelsDir: string, baseModel: string | null): Promise<string> {
  if (!baseModel) throw new JobInputError('base_model', 'base_model is required for engine training');
  if (!MODEL_NAME.test(baseModel)) throw new JobInputError('base_model', `base_model "${baseModel}" must be a directory name in the models directory`);
  const dir = join(modelsDir, baseModel);
  if (!(await exists(join(dir, 'config.json')))) {
    const names = await readdir(modelsDir).catch(() => [] as string[]);
    throw new JobInputError('base_model', `base model "${baseModel}" not found in the models directory (available: ${names.length ? names.join(', ') : 'none'})`);
  }
  return dir;
}

/** The job's inline config / config file / hyperparameters merged (inline config wins) and validated. */
export async function jobTrainConfig(job: Pick<TrainerJob, 'trainerType' | 'configPath' | 'config' | 'hyperparameters'>): Promise<JobTrainConfig & { adapterName?: string }> {
  const fromFile = job.configPath ? await readJobConfigFile(dirname(job.configPath), basename(job.configPath)) : {};
  const { config: merged, adapterName } = mergeJobConfig(fromFile, job.hyperparameters, job.config);
  if (adapterName !== undefined && (typeof adapterName !== 'string' || !MODEL_NAME.test(adapterName))) {
    throw new JobInputError('config.adapter_name', 'config.adapter_name must be a simple name (letters, digits, . _ -)');
  }
  return { ...parseJobConfig(merged, job.trainerType as TrainerType), adapterName: adapterName as string | undefined };
}

function insideDir(root: string, p: string): boolean {
  const r = relative(root, p);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

export async function runEngineJob(job: TrainerJob, ctx: TrainerContext, deps: EngineTrainerDeps): Promise<TrainerResult> {
  const cfg = await jobTrainConfig(job);
  const modelDir = await resolveBaseModel(ctx.modelsDir, job.baseModel);
  let dataPath = job.datasetPath;
  let evalFromVersion: string | null = null;
  if (!dataPath) {
    if (!job.dataset) throw new JobInputError('dataset', 'dataset is required');
    if (!deps.exportDataset) throw new JobInputError('dataset', `dataset "${job.dataset}" is not a JSONL file in the data directory, and no datasets service is reachable to export it`);
    // A dataset version: the datasets service freezes it into JSONL (and records that this job trained on it).
    const exported = await deps.exportDataset(job.dataset, { jobId: job.id, evalFraction: cfg.evalSplit ?? 0, seed: cfg.seed });
    for (const p of [exported.trainPath, exported.evalPath]) {
      if (p && !insideDir(resolve(ctx.dataDir), resolve(p))) throw new Error(`the datasets service exported to ${p}, outside the data directory`);
    }
    dataPath = exported.trainPath;
    evalFromVersion = exported.evalPath;
    ctx.log('dataset version exported', { dataset: job.dataset, train: dataPath, eval: evalFromVersion });
  }
  let parent: ParentAdapter | null = null;
  let replay: { dataPath: string; fraction: number } | undefined;
  if (job.trainerType === 'continuous') {
    parent = await deps.findAdapter(cfg.parentAdapter!);
    if (!parent) throw new JobInputError('config.parent_adapter', `parent adapter "${cfg.parentAdapter}" is not in the adapter registry`);
    if (parent.baseModel !== job.baseModel) {
      throw new JobInputError('base_model', `parent adapter ${parent.name} v${parent.version} was trained on "${parent.baseModel}", not "${job.baseModel}"`);
    }
    // Replay the parent's own training data when it is a JSONL file we still have.
    let old = parent.datasetRef?.toLowerCase().endsWith('.jsonl') && !isAbsolute(parent.datasetRef) ? resolve(ctx.dataDir, parent.datasetRef) : null;
    if (parent.datasetRef && !old && deps.exportDataset && cfg.replayFraction) {
      old = await deps.exportDataset(parent.datasetRef, { evalFraction: 0, seed: cfg.seed }).then(
        (e) => e.trainPath,
        (err: Error) => (ctx.log('could not export the parent adapter\'s dataset for replay', { err: err.message }), null),
      );
    }
    if (cfg.replayFraction && old && insideDir(resolve(ctx.dataDir), old) && (await exists(old))) replay = { dataPath: old, fraction: cfg.replayFraction };
    else if (cfg.replayFraction) ctx.log('parent adapter training data is not available; continuing without replay', { parent: parent.id });
  }
  const outDir = join(ctx.jobDir, 'output');
  const ckptDir = join(outDir, 'checkpoints');
  const haveCheckpoint = (await readdir(ckptDir).catch(() => [] as string[])).some((n) => /^checkpoint-\d+$/.test(n));
  const { parentAdapter: _p, replayFraction: _r, ...train } = cfg;
  if (evalFromVersion) delete train.evalSplit; // the export already split it off
  const options = {
    ...train,
    modelDir,
    dataPath,
    evalDataPath: evalFromVersion ?? undefined,
    outDir,
    initAdapter: parent?.path,
    replay,
    // Without save_steps a killed job would restart from zero; checkpoint about every 10% by default.
    saveSteps: train.saveSteps ?? (train.steps ? Math.max(1, Math.ceil(train.steps / 10)) : 50),
    resumeFrom: haveCheckpoint ? ckptDir : undefined,
    threads: deps.threads,
    executionProvider: deps.executionProvider,
  };
  if (haveCheckpoint) ctx.log('resuming from the newest valid checkpoint', { dir: ckptDir });
  const handle = startTrainProcess(
    options,
    {
      // Jobs count whole epochs (1-based epoch in progress); the engine reports fractional progress.
      onStep: (r) => ctx.report({ kind: 'progress', ...r, epoch: Math.max(1, Math.ceil(r.epoch - 1e-9)), totalEpochs: Math.max(1, Math.ceil(r.totalEpochs - 1e-9)) }),
      onEval: (r) => ctx.report({ kind: 'eval', step: r.step, evalLoss: r.evalLoss }),
      onCheckpoint: (r) => ctx.report({ kind: 'checkpoint', step: r.step, dir: r.dir }),
    },
    { workDir: ctx.jobDir, maxOldSpaceMb: deps.maxOldSpaceMb || undefined, maxFileSizeMb: deps.maxFileSizeMb || undefined },
  );
  // Cancel is polled (the child checks the stop file at each step); an abort (lease lost, shutdown) kills at once.
  const poll = setInterval(() => ctx.shouldStop() && handle.requestStop(), 100);
  const onAbort = () => handle.kill('SIGKILL');
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let result;
  try {
    result = await handle.result;
  } catch (err) {
    if (err instanceof TrainProcessError) {
      const what = { out_of_memory: 'out of memory', disk_full: 'disk full', killed: 'killed', crashed: 'crashed', error: 'failed' }[err.reason];
      throw new Error(`training ${what}: ${err.message}`);
    }
    throw err;
  } finally {
    clearInterval(poll);
    ctx.signal.removeEventListener('abort', onAbort);
  }
  if (result.stopped) return { stopped: true, steps: result.steps };
  // The registered adapter directory holds exactly the PEFT files (plus metrics), nothing of the run's scratch.
  const adapterDir = join(ctx.jobDir, 'adapter');
  await mkdir(adapterDir, { recursive: true });
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) await copyFile(join(outDir, f), join(adapterDir, f));
  const metrics: Record<string, number> = { steps: result.steps, final_loss: result.finalLoss };
  if (result.evalLoss !== undefined) metrics.eval_loss = result.evalLoss;
  const bw = result.baseWeightBytes as { stored: number; fp32: number } | undefined;
  if (bw) metrics.base_weight_fraction_of_fp32 = bw.stored / bw.fp32;
  return {
    adapterDir,
    finalLoss: result.finalLoss,
    evalLoss: result.evalLoss,
    steps: result.steps,
    metrics,
    adapterName: cfg.adapterName ?? parent?.name,
    parentAdapterId: parent?.id,
  } as TrainerResult;
}

export const ENGINE_TRAINER_TYPES: TrainerType[] = ['lora', 'qlora', 'continuous'];

/** Registers the engine for lora/qlora/continuous, leaving alone any type a caller (e.g. a test) registered first. */
export function registerEngineTrainers(deps: EngineTrainerDeps): () => void {
  const runner: TrainerRunner = { run: (job, ctx) => runEngineJob(job, ctx, deps) };
  const undo = ENGINE_TRAINER_TYPES.filter((t) => !getTrainer(t)).map((t) => registerTrainer(t, runner));
  return () => undo.forEach((u) => u());
}
