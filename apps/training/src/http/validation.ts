import { BadRequestException, ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { ValidationTypes, getMetadataStorage, type ValidationArguments } from 'class-validator';
import { validationException } from './errors.js';

/** whitelist + forbidNonWhitelisted; a body that is not a JSON object is refused before validation. */
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      validationError: { target: false, value: false },
      exceptionFactory: validationException,
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata) {
    if (metadata.type === 'body' && metadata.metatype && metadata.metatype !== Object) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'request body must be a JSON object' });
      }
      const fast = acceptValidBody(metadata.metatype, value);
      if (fast) return fast;
    }
    return super.transform(value, metadata);
  }
}

/**
 * Fast path for valid JSON bodies: the same class-validator rules (the constraint objects class-validator itself
 * holds for the DTO) run directly, without the executor's per-call metadata look-ups and error objects, which were
 * a large part of a create's cost. Returns the DTO instance only when every rule passes and the body holds nothing
 * the full pipe would alter or refuse; otherwise undefined, and the full ValidationPipe runs (and words the 400).
 */
export function acceptValidBody(metatype: new (...args: never[]) => unknown, value: object): object | undefined {
  const check = compile(metatype);
  if (!check || !isPlainJson(value)) return undefined;
  const entity = plainToInstance(metatype, value) as object;
  if (entity === null || typeof entity !== 'object' || entity.constructor !== metatype) return undefined;
  return check(entity) ? entity : undefined;
}

type Check = (entity: object) => boolean;
interface Constraint {
  validate(value: unknown, args: ValidationArguments): unknown;
}
interface PropertyRules {
  name: string;
  /** @IsOptional and the like: the rules apply only when every condition holds. */
  conditions: Array<(object: object, value: unknown) => boolean>;
  rules: Array<{ each: boolean; constraints: unknown[]; validators: Constraint[] }>;
  nested: boolean;
}

/** null: the class uses a feature this check does not cover (groups, async rules, ...), so it always takes the full pipe. */
const compiled = new WeakMap<object, Check | null>();

function compile(cls: abstract new (...args: never[]) => unknown): Check | null {
  const known = compiled.get(cls);
  if (known !== undefined) return known;
  compiled.set(cls, null); // guards against a class that nests itself
  const storage = getMetadataStorage();
  const metadatas = storage.getTargetValidationMetadatas(cls, '', false, false, undefined);
  if (!metadatas.length) return null;
  const props: PropertyRules[] = [];
  for (const [name, list] of Object.entries(storage.groupByPropertyName(metadatas))) {
    const p: PropertyRules = { name, conditions: [], rules: [], nested: false };
    for (const m of list) {
      if (m.groups?.length || m.always !== undefined || m.validateIf || m.context) return null;
      if (m.type === ValidationTypes.CONDITIONAL_VALIDATION) p.conditions.push(m.constraints[0]);
      else if (m.type === ValidationTypes.CUSTOM_VALIDATION) {
        const constraints = storage.getTargetValidatorConstraints(m.constraintCls);
        if (!constraints.length || constraints.some((c) => c.async)) return null;
        p.rules.push({ each: m.each, constraints: m.constraints, validators: constraints.map((c) => c.instance as Constraint) });
      } else if (m.type === ValidationTypes.NESTED_VALIDATION) p.nested = true;
      else if (m.type !== ValidationTypes.WHITELIST) return null; // IS_DEFINED, PROMISE_VALIDATION: full pipe
    }
    props.push(p);
  }
  const allowed = new Set(props.map((p) => p.name));
  const check: Check = (entity) => {
    for (const key of Object.keys(entity)) if (!allowed.has(key)) return false;
    const record = entity as Record<string, unknown>;
    for (const p of props) {
      const value = record[p.name];
      let applies = true;
      for (const c of p.conditions) if (!c(entity, value)) applies = false;
      if (!applies) continue;
      for (const rule of p.rules) {
        const args: ValidationArguments = { targetName: cls.name, property: p.name, object: entity, value, constraints: rule.constraints };
        if (rule.each && (value instanceof Set || value instanceof Map)) return false;
        if (rule.each && Array.isArray(value)) {
          for (const v of value) if (!passes(rule.validators, v, args)) return false;
        } else if (!passes(rule.validators, value, args)) return false;
      }
      if (p.nested && value !== undefined) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
        const nested = compile(value.constructor as abstract new (...args: never[]) => unknown);
        if (!nested || !nested(value)) return false;
      }
    }
    return true;
  };
  compiled.set(cls, check);
  return check;
}

/** Like class-validator: a falsy result fails; a promise (async rule) is left to the full pipe. */
function passes(validators: Constraint[], value: unknown, args: ValidationArguments): boolean {
  for (const c of validators) {
    const ok = c.validate(value, args);
    if (!ok || typeof (ok as { then?: unknown }).then === 'function') return false;
  }
  return true;
}

const STRIPPED_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** Only plain JSON values, no array holes, none of the keys the full pipe strips (it would change the body). */
function isPlainJson(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function' && typeof value !== 'symbol' && typeof value !== 'bigint';
  if (depth > 32) return false;
  if (Array.isArray(value)) {
    if (Object.keys(value).length !== value.length) return false;
    for (const v of value) if (!isPlainJson(v, depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key of Object.keys(value)) {
    if (STRIPPED_KEYS.has(key) || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return !Object.prototype.hasOwnProperty.call(value, '__proto__');
}
