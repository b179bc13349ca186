/** Environment of the training worker, read once at start (see .env.example). */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { baseConfigSchema, num, readConfig, str, type ReadConfigOptions } from '@clara/platform';

export const workerConfigSchema = {
  ...baseConfigSchema,
  CLARA_MAX_CONCURRENT_JOBS: num({ default: 2, desc: 'jobs this worker runs at once' }),
  CLARA_WORKER_ID: str({ default: '', desc: 'worker name in leases and events; empty = host-pid-random' }),
  CLARA_LEASE_MS: num({ default: 30_000, desc: 'a job whose worker stops heartbeating is requeued after this' }),
  CLARA_SWEEP_INTERVAL_MS: num({ default: 15_000, desc: 'slow sweep: claim missed jobs, requeue expired leases' }),
  CLARA_PROGRESS_INTERVAL_MS: num({ default: 250, desc: 'progress events per job are written at most this often' }),
  CLARA_EXECUTION_PROVIDER: str({ default: 'cpu', choices: ['cpu', 'cuda'], desc: 'onnxruntime execution provider for training (cuda is checked at start)' }),
  CLARA_TRAIN_THREADS: num({ default: 2, desc: 'onnxruntime intra-op threads per training process' }),
  CLARA_TRAIN_MAX_HEAP_MB: num({ default: 0, desc: 'V8 heap cap of each training process in MB; 0 = Node default' }),
  CLARA_TRAIN_MAX_FILE_MB: num({ default: 0, desc: 'largest file a training process may write (ulimit -f), in MB; 0 = no limit' }),
};

export type WorkerConfig = ReturnType<typeof readWorkerConfig>;

export function readWorkerConfig(options?: ReadConfigOptions) {
  const config = readConfig(workerConfigSchema, options);
  const problems: string[] = [];
  if (!Number.isInteger(config.CLARA_MAX_CONCURRENT_JOBS) || config.CLARA_MAX_CONCURRENT_JOBS < 1 || config.CLARA_MAX_CONCURRENT_JOBS > 64) {
    problems.push(`CLARA_MAX_CONCURRENT_JOBS: must be an integer from 1 to 64 (got ${config.CLARA_MAX_CONCURRENT_JOBS})`);
  }
  if (config.CLARA_LEASE_MS < 1000) problems.push(`CLARA_LEASE_MS: must be at least 1000 (got ${config.CLARA_LEASE_MS})`);
  if (config.CLARA_SWEEP_INTERVAL_MS < 100) problems.push(`CLARA_SWEEP_INTERVAL_MS: must be at least 100 (got ${config.CLARA_SWEEP_INTERVAL_MS})`);
  if (!Number.isInteger(config.CLARA_TRAIN_THREADS) || config.CLARA_TRAIN_THREADS < 1 || config.CLARA_TRAIN_THREADS > 256) {
    problems.push(`CLARA_TRAIN_THREADS: must be an integer from 1 to 256 (got ${config.CLARA_TRAIN_THREADS})`);
  }
  if (problems.length) {
    const message = `Invalid configuration: ${problems.join('; ')}`;
    if (options?.exitOnError ?? true) {
      process.stderr.write(message + '\n');
      process.exit(1);
    }
    throw new Error(message);
  }
  return { ...config, CLARA_WORKER_ID: config.CLARA_WORKER_ID || `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}` };
}
