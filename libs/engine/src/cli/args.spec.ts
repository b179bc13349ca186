import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrainArgs } from './args.js';
import { runTrainCli, toTrainOptions } from './train.js';
import { CUDA_INSTALL_HELP } from '../graph/execution-provider.js';
import { writeTinyCheckpoint } from '../io/tiny-checkpoint.js';

let dir: string;
let model: string;
let data: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clara-cli-'));
  model = join(dir, 'model');
  await writeTinyCheckpoint(model, {});
  data = join(dir, 'd.jsonl');
  await writeFile(data, '{"text":"hello"}\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const base = () => ['--model', model, '--data', data, '--out', join(dir, 'out')];

describe('train CLI arguments', () => {
  it('applies defaults and parses every kind of flag', () => {
    const a = parseTrainArgs([...base(), '--method', 'qlora', '--lr=1e-3', '--steps', '5', '--targets', 'q_proj,v_proj', '--packing', '--max-grad-norm', '0']);
    expect(a).toMatchObject({ method: 'qlora', lr: 1e-3, steps: 5, targets: ['q_proj', 'v_proj'], packing: true, maxGradNorm: 0, optimizer: 'adamw', rank: 8, alpha: 16, seed: 42, batchSize: 4, gradAccum: 1, scheduler: 'linear' });
    expect(a.epochs).toBeUndefined();
    expect(parseTrainArgs(base()).epochs).toBe(1);
    expect(parseTrainArgs(base()).targets).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
  });

  const bad: [string[], RegExp][] = [
    [['--lr', '-1'], /--lr: must be > 0/],
    [['--lr', 'fast'], /--lr: must be a number/],
    [['--rank', '2.5'], /--rank: must be an integer/],
    [['--method', 'full'], /--method: must be one of lora, qlora/],
    [['--optimizer', 'adam'], /--optimizer: must be one of adamw, sgd/],
    [['--dropout', '1'], /--dropout: must be < 1/],
    [['--targets', 'q_proj,lm_head'], /--targets: unknown module "lm_head"/],
    [['--steps', '3', '--epochs', '1'], /either --steps or --epochs/],
    [['--batch-size', '0'], /--batch-size: must be >= 1/],
    [['--frobnicate', '1'], /unknown option --frobnicate/],
    [['--seed'], /--seed needs a value/],
    [['--eval-data', '/nonexistent.jsonl'], /--eval-data: file \/nonexistent.jsonl does not exist/],
    [['--init-adapter', '/nonexistent'], /--init-adapter: directory/],
  ];
  for (const [extra, msg] of bad) {
    it(`rejects ${extra.join(' ')}`, () => expect(() => parseTrainArgs([...base(), ...extra])).toThrow(msg));
  }

  it('names missing required flags and a model dir without config.json', () => {
    expect(() => parseTrainArgs(['--data', data, '--out', dir])).toThrow(/--model is required/);
    expect(() => parseTrainArgs(['--model', dir, '--data', data, '--out', dir])).toThrow(/--model: .* has no config.json/);
  });

  it('the CLI exits 2 with the message on bad arguments and prints usage on --help', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await runTrainCli([...base(), '--lr', '0'], io)).toBe(2);
    expect(lines[0]).toBe('error: --lr: must be > 0 (got 0)');
    expect(await runTrainCli(['--help'], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/--grad-accum INT/);
  });
});

describe('--execution-provider', () => {
  it('reaches TrainOptions; unset means onnxruntime\'s default (cpu); other values name the flag', () => {
    expect(toTrainOptions(parseTrainArgs([...base(), '--execution-provider', 'cuda'])).executionProvider).toBe('cuda');
    expect(toTrainOptions(parseTrainArgs([...base(), '--execution-provider=cpu'])).executionProvider).toBe('cpu');
    expect(toTrainOptions(parseTrainArgs(base())).executionProvider).toBeUndefined();
    expect(() => parseTrainArgs([...base(), '--execution-provider', 'rocm'])).toThrow(/--execution-provider: must be one of cpu, cuda/);
  });

  it('cuda without the CUDA provider libraries stops before training, with install instructions (exit 1)', async () => {
    const out: string[] = [];
    const code = await runTrainCli([...base(), '--execution-provider', 'cuda', '--steps', '1'], { out: (l) => out.push(l), err: (l) => out.push(l) });
    if (code === 0) {
      // a host with the CUDA provider installed: it really trained on it
      expect(existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia')).toBe(true);
    } else {
      expect(code).toBe(1);
      expect(out.join('\n')).toMatch(/^error: --execution-provider=cuda but /);
      expect(out.join('\n')).toContain(CUDA_INSTALL_HELP);
    }
  });
});
