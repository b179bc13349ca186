// The fast path of StrictValidationPipe against the full Nest ValidationPipe (same options) on generated bodies:
// whatever the fast path accepts, the full pipe accepts with an equal DTO; whatever the full pipe refuses, the fast
// path leaves to it (so the 400 and its field names stay the full pipe's).
import 'reflect-metadata';
import { BadRequestException, ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { CreateTrainingJobDto, HyperparametersDto, ListTrainingJobsQueryDto } from '@clara/contracts/training/dto';
import { validationException } from './errors.js';
import { StrictValidationPipe, acceptValidBody } from './validation.js';

const reference = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  validationError: { target: false, value: false },
  exceptionFactory: validationException,
});
const bodyMeta: ArgumentMetadata = { type: 'body', metatype: CreateTrainingJobDto, data: '' };

const valid = () => ({
  trainer_type: 'lora',
  base_model: 'bench-model',
  dataset: 'dsv_bench',
  priority: 5,
  tags: ['bench', 'x'],
  hyperparameters: { learning_rate: 0.0002, epochs: 1, target_modules: ['q_proj'], optimizer: 'adamw', packing: true },
  max_attempts: 3,
});

// Deterministic generator (xorshift) so a failure is reproducible.
let state = 0x2545f491;
const rnd = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};
const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
const values = (): unknown[] => [
  undefined, null, true, false, 0, 1, -1, 5, 11, 0.5, 1e-9, 2e-4, 1.5, 1000, 1001, 2 ** 31, NaN, Infinity, '', 'x', 'lora',
  'qlora', 'sgd', 'cosine', 'a/../b', '../x', 'datasets/train.jsonl', 'dsv_1', 'x'.repeat(70), 'x'.repeat(600), [], ['a'], [''],
  ['q_proj', 'v_proj'], [1], Array(40).fill('t'), {}, { a: 1 }, { learning_rate: 2 }, { epochs: 0 },
];
const TOP = ['trainer_type', 'base_model', 'dataset', 'priority', 'tags', 'hyperparameters', 'max_attempts', 'config', 'config_path', 'unknown'];
const HP = ['learning_rate', 'epochs', 'max_steps', 'lora_rank', 'lora_dropout', 'target_modules', 'optimizer', 'lr_scheduler', 'packing', 'seed', 'nope'];

function mutate(): Record<string, unknown> {
  const body: Record<string, unknown> = valid();
  const n = Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.4) body[pick(TOP)] = pick(values());
    else if (r < 0.5) delete body[pick(TOP)];
    else if (body.hyperparameters && typeof body.hyperparameters === 'object' && !Array.isArray(body.hyperparameters)) {
      (body.hyperparameters as Record<string, unknown>)[pick(HP)] = pick(values());
    }
  }
  return body;
}

async function full(body: unknown): Promise<{ ok: true; dto: unknown } | { ok: false; err: unknown }> {
  try {
    return { ok: true, dto: await reference.transform(structuredClone(body), bodyMeta) };
  } catch (err) {
    return { ok: false, err };
  }
}

describe('StrictValidationPipe fast path', () => {
  it('takes the fast path for a valid body and builds the same DTO as the full pipe', async () => {
    const dto = acceptValidBody(CreateTrainingJobDto, valid());
    expect(dto).toBeInstanceOf(CreateTrainingJobDto);
    expect((dto as CreateTrainingJobDto).hyperparameters).toBeInstanceOf(HyperparametersDto);
    const ref = await full(valid());
    expect(ref.ok).toBe(true);
    expect(dto).toEqual((ref as { dto: unknown }).dto);
  });

  it('never accepts what the full pipe refuses, and agrees on what both accept (2,000 generated bodies)', async () => {
    let fastAccepted = 0;
    let fullAccepted = 0;
    for (let i = 0; i < 2000; i++) {
      const body = mutate();
      const fast = acceptValidBody(CreateTrainingJobDto, structuredClone(body));
      const ref = await full(body);
      if (ref.ok) fullAccepted++;
      if (fast !== undefined) {
        fastAccepted++;
        expect(ref.ok, JSON.stringify(body)).toBe(true);
        expect(fast, JSON.stringify(body)).toEqual((ref as { dto: unknown }).dto);
        expect(Object.getPrototypeOf(fast)).toBe(CreateTrainingJobDto.prototype);
      }
    }
    // Both kinds occurred, and the fast path took (nearly) every valid body; it may leave a valid one to the full pipe.
    expect(fullAccepted).toBeGreaterThan(100);
    expect(fullAccepted).toBeLessThan(2000);
    expect(fastAccepted).toBe(fullAccepted);
  });

  it('leaves bodies the full pipe would change or refuse to it: prototype keys, unknown fields, non-JSON values', async () => {
    const proto = JSON.parse('{"trainer_type":"lora","base_model":"m","dataset":"dsv_1","__proto__":{"x":1}}');
    expect(acceptValidBody(CreateTrainingJobDto, proto)).toBeUndefined();
    expect(acceptValidBody(CreateTrainingJobDto, { ...valid(), config: { constructor: 1 } })).toBeUndefined();
    expect(acceptValidBody(CreateTrainingJobDto, { ...valid(), extra: 1 })).toBeUndefined();
    expect(acceptValidBody(CreateTrainingJobDto, { ...valid(), hyperparameters: { epochs: 1, nope: 2 } })).toBeUndefined();
    expect(acceptValidBody(CreateTrainingJobDto, { ...valid(), tags: new Set(['a']) as unknown as string[] })).toBeUndefined();
    // Through the pipe, the refusal is the full pipe's: 400 naming the field.
    const pipe = new StrictValidationPipe();
    const err = await pipe.transform({ ...valid(), hyperparameters: { epochs: 0 } }, bodyMeta).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestException);
    expect((err as BadRequestException).getResponse()).toMatchObject({ errors: [{ field: 'hyperparameters.epochs' }] });
    const unknown = await pipe.transform({ ...valid(), extra: 1 }, bodyMeta).catch((e: unknown) => e);
    expect((unknown as BadRequestException).getResponse()).toMatchObject({ errors: [{ field: 'extra', messages: ['unknown field extra'] }] });
  });

  it('keeps query DTOs on the full pipe (query strings are not JSON bodies)', async () => {
    const pipe = new StrictValidationPipe();
    const q = await pipe.transform({ limit: '5' }, { type: 'query', metatype: ListTrainingJobsQueryDto, data: '' });
    expect(q).toBeInstanceOf(ListTrainingJobsQueryDto);
    expect((q as ListTrainingJobsQueryDto).limit).toBe(5);
  });
});
