import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTINUOUS_DEFAULT_LR, parseJobConfig, readJobConfigFile } from './job-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clara-jobcfg-'));
  await mkdir(join(dir, 'configs'));
  await writeFile(join(dir, 'configs', 'q.yaml'), 'training:\n  steps: 20\n  lr: 0.001\n  targets: [q_proj, v_proj]\n');
  await writeFile(join(dir, 'configs', 'l.json'), '{"batch_size": 2, "rank": 4}');
  await writeFile(join(dir, 'configs', 'bad.yaml'), 'steps: [unclosed\n');
  await writeFile(join(dir, 'secret.yaml'), 'steps: 1\n');
  await symlink(join(dir, 'secret.yaml'), join(dir, 'configs', 'link.yaml'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('job config', () => {
  it('maps snake_case keys to training options with defaults; trainer_type sets method', () => {
    const c = parseJobConfig({ steps: 10, batch_size: 2, grad_accum: 2, seq_len: 64, eval_steps: 5, save_steps: 5, early_stopping_patience: 2, max_grad_norm: 0.5, weight_decay: 0.01 }, 'qlora');
    expect(c).toMatchObject({ method: 'qlora', steps: 10, batchSize: 2, gradAccum: 2, seqLen: 64, evalSteps: 5, saveSteps: 5, earlyStoppingPatience: 2, maxGradNorm: 0.5, weightDecay: 0.01, lr: 2e-4, rank: 8 });
    expect(parseJobConfig(undefined, 'lora')).toMatchObject({ method: 'lora', epochs: 1 });
  });

  it('continuous needs a parent adapter and defaults to a lower lr and a replay fraction', () => {
    expect(() => parseJobConfig({}, 'continuous')).toThrow(/needs config.parent_adapter/);
    const c = parseJobConfig({ parent_adapter: 'abc', method: 'qlora' }, 'continuous');
    expect(c).toMatchObject({ method: 'qlora', parentAdapter: 'abc', lr: CONTINUOUS_DEFAULT_LR, replayFraction: 0.2 });
    expect(c.lr).toBeLessThan(parseJobConfig({}, 'lora').lr);
  });

  const bad: [unknown, RegExp, string][] = [
    [{ learning_rate: 1 }, /config.learning_rate: unknown key/, 'config.learning_rate'],
    [{ batch_size: 0 }, /config.batch_size: must be >= 1/, 'config.batch_size'],
    [{ dropout: 2 }, /config.dropout: must be < 1/, 'config.dropout'],
    [{ targets: ['q_proj', 'wq'] }, /config.targets: unknown module "wq"/, 'config.targets'],
    [{ method: 'lora' }, /contradicts trainer_type "qlora"/, 'config.method'],
    [{ steps: 1, epochs: 1 }, /either config.steps or config.epochs/, 'config.steps'],
    [{ replay_fraction: 0.1 }, /needs trainer_type "continuous"/, 'config.replay_fraction'],
    [[1, 2], /config must be a JSON object/, 'config'],
  ];
  for (const [cfg, msg, field] of bad) {
    it(`rejects ${JSON.stringify(cfg)} naming ${field}`, () => {
      try {
        parseJobConfig(cfg, 'qlora');
        expect.fail('should throw');
      } catch (err) {
        expect((err as Error).message).toMatch(msg);
        expect((err as { option: string }).option).toBe(field);
      }
    });
  }

  it('reads YAML/JSON config files inside the config dir only', async () => {
    expect(parseJobConfig(await readJobConfigFile(dir, 'configs/q.yaml'), 'lora')).toMatchObject({ steps: 20, lr: 0.001, targets: ['q_proj', 'v_proj'] });
    expect(await readJobConfigFile(dir, 'configs/l.json')).toEqual({ batch_size: 2, rank: 4 });
    await expect(readJobConfigFile(join(dir, 'configs'), '../secret.yaml')).rejects.toThrow(/config_path: must stay inside/);
    await expect(readJobConfigFile(join(dir, 'configs'), 'link.yaml')).rejects.toThrow(/config_path: must stay inside/);
    await expect(readJobConfigFile(dir, '/etc/passwd')).rejects.toThrow(/config_path: must be relative/);
    await expect(readJobConfigFile(dir, 'configs/none.yaml')).rejects.toThrow(/does not exist/);
    await expect(readJobConfigFile(dir, 'configs/bad.yaml')).rejects.toThrow(/not valid YAML/);
  });
});

describe('mergeJobConfig', () => {
  it('maps the API hyperparameter names, lets inline config win and max_steps override epochs', async () => {
    const { mergeJobConfig } = await import('./job-config.js');
    const m = mergeJobConfig({ lora_rank: 4, epochs: 2 }, { learning_rate: 1e-3, max_steps: 9, epochs: 3, target_modules: ['q_proj'] }, { lr: 5e-4, adapter_name: 'mine' });
    expect(m).toEqual({ config: { rank: 4, lr: 5e-4, steps: 9, targets: ['q_proj'] }, adapterName: 'mine' });
    expect(parseJobConfig(m.config, 'lora')).toMatchObject({ rank: 4, lr: 5e-4, steps: 9, targets: ['q_proj'] });
    expect(mergeJobConfig({ steps: 5 }, {}, { epochs: 2 }).config).toEqual({ epochs: 2 });
    // Hugging Face TrainingArguments / LoraConfig names from existing YAML files
    const hf = mergeJobConfig({ num_train_epochs: 2, per_device_train_batch_size: 8, lora_r: 16, lr_scheduler_type: 'cosine', use_rslora: true }, {}, {});
    expect(parseJobConfig(hf.config, 'qlora')).toMatchObject({ epochs: 2, batchSize: 8, rank: 16, scheduler: 'cosine', useRslora: true });
  });
});
