/**
 * Create-time checks of what the engine trainer will need, so a bad job is refused with 400 naming the field
 * instead of failing later on a worker: config keys/ranges (inline or config_path), the base model, the parent adapter.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BadRequestException } from '@nestjs/common';
import { OptionError } from '@clara/engine/cli/options';
import { mergeJobConfig, parseJobConfig, readJobConfigFile, type TrainerType } from '@clara/engine/cli/job-config';
import type { AdapterRepository } from '@clara/data-access';

export interface JobValidationDeps {
  dataDir: string;
  modelsDir: string;
  adapters: AdapterRepository;
}

export interface ValidatableJob {
  trainer_type: string;
  base_model?: string | null;
  config_path?: string | null;
  config?: Record<string, unknown> | null;
  hyperparameters?: object | null;
}

function bad(field: string, message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message, errors: [{ field, messages: [message] }] });
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function engineJobValidator(deps: JobValidationDeps) {
  return async (job: ValidatableJob): Promise<void> => {
    if (!['lora', 'qlora', 'continuous'].includes(job.trainer_type)) return;
    // Without a models directory this API cannot see what the workers have (separate hosts): it still checks the
    // config keys of lora/qlora jobs, and the worker fails a job fast when its model or parent adapter is missing.
    // existsSync: one access(2) syscall, checked on every request as before, without the thread-pool round trip
    // and promise that fs/promises costs (it was a top self-time frame of create under load).
    const seesModels = existsSync(deps.modelsDir);
    if (!seesModels && job.trainer_type === 'continuous') return;
    try {
      // config_path was already confined to the data directory by the paths check.
      let fromFile: Record<string, unknown> = {};
      if (job.config_path) {
        const full = resolve(deps.dataDir, job.config_path);
        fromFile = await readJobConfigFile(dirname(full), basename(full));
      }
      const { config: rest, adapterName } = mergeJobConfig(fromFile, job.hyperparameters as Record<string, unknown> | null, job.config ?? null);
      if (adapterName !== undefined && (typeof adapterName !== 'string' || !MODEL_NAME.test(adapterName))) {
        throw bad('config.adapter_name', 'config.adapter_name must be a simple name (letters, digits, . _ -)');
      }
      const cfg = parseJobConfig(rest, job.trainer_type as TrainerType);
      if (job.base_model != null && seesModels) {
        if (!MODEL_NAME.test(job.base_model)) throw bad('base_model', `base_model "${job.base_model}" must be a directory name in the models directory`);
        const ok = existsSync(join(deps.modelsDir, job.base_model, 'config.json'));
        if (!ok) throw bad('base_model', `base model "${job.base_model}" not found in the models directory`);
      }
      if (cfg.parentAdapter) {
        const ref = cfg.parentAdapter;
        const found = UUID.test(ref)
          ? await deps.adapters.findById(ref)
          : (await deps.adapters.list(1000)).find((a) => {
              const [name, version] = ref.split('@');
              return a.name === name && (version === undefined || String(a.version) === version);
            });
        if (!found) throw bad('config.parent_adapter', `parent adapter "${ref}" is not in the adapter registry`);
        if (job.base_model != null && found.baseModel !== job.base_model) {
          throw bad('base_model', `parent adapter was trained on "${found.baseModel}", not "${job.base_model}"`);
        }
      }
    } catch (err) {
      if (err instanceof OptionError) throw bad(err.option, err.message);
      throw err;
    }
  };
}
