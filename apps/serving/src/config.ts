/** Serving configuration: read once at start; a bad value stops the service naming the variable. */
import { baseConfigSchema, bool, listenPort, makeValidator, readConfig, str, type ReadConfigOptions } from '@clara/platform';

export interface AdapterAccessRule {
  /** Any of these roles may call the adapter (absent = any role holding serving.invoke). */
  roles?: string[];
  /** Any of these tenants (the user's `tenant:<name>` roles) may call it. */
  tenants?: string[];
}

/** `{"support-bot": {"roles": ["admin"], "tenants": ["acme"]}, "acme-*": {"tenants": ["acme"]}}` */
const adapterAcl = makeValidator<Record<string, AdapterAccessRule>>((input) => {
  if (!input.trim()) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch {
    throw new Error('must be a JSON object');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a JSON object of adapter → rule');
  for (const [name, rule] of Object.entries(parsed as Record<string, unknown>)) {
    const r = rule as Record<string, unknown>;
    if (!r || typeof r !== 'object') throw new Error(`rule for ${name} must be an object`);
    for (const key of ['roles', 'tenants']) {
      if (r[key] !== undefined && (!Array.isArray(r[key]) || !(r[key] as unknown[]).every((x) => typeof x === 'string'))) {
        throw new Error(`${name}.${key} must be a list of strings`);
      }
    }
  }
  return parsed as Record<string, AdapterAccessRule>;
});

const positiveInt = (max: number) =>
  makeValidator<number>((input) => {
    const n = Number(input);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`must be an integer from 1 to ${max}`);
    return n;
  });

export const servingConfigSchema = {
  ...baseConfigSchema,
  CLARA_SERVING_PORT: listenPort({ default: 45682, desc: 'HTTP port of the OpenAI-compatible serving (0 = any free port)' }),
  CLARA_SERVING_HOST: str({ default: '0.0.0.0' }),
  CLARA_SERVING_BASE_MODEL: str({ default: 'demo-tiny-llama', desc: 'subdirectory of CLARA_MODELS_DIR served as the base model' }),
  CLARA_SERVING_MAX_LORAS: positiveInt(1024)({ default: 32, desc: 'adapter slots held in memory (LRU beyond that)' }),
  CLARA_SERVING_MAX_LORA_RANK: positiveInt(512)({ default: 16 }),
  CLARA_SERVING_MAX_BATCH: positiveInt(4096)({ default: 64, desc: 'rows in one decode step' }),
  CLARA_SERVING_THREADS: positiveInt(256)({ default: 1, desc: 'onnxruntime intra-op threads' }),
  CLARA_SERVING_RUNNER: str({ default: 'worker', choices: ['worker', 'inline'], desc: 'onnxruntime in a worker thread (worker) or on the event loop (inline)' }),
  CLARA_SERVING_REPLICA_ID: str({ default: '', desc: 'replica name for routing; empty = host:port' }),
  CLARA_SERVING_REGISTRY: bool({ default: true, desc: 'resolve unknown model names in the adapter registry (PostgreSQL)' }),
  CLARA_SERVING_ADAPTER_ACL: adapterAcl({ default: {}, desc: 'per-adapter access rules (JSON)' }),
  CLARA_SERVING_ADAPTER_ROOT: str({ default: '', desc: 'if set, lora_path must lie under this directory' }),
  CLARA_SERVING_MAX_WAITING: positiveInt(1_000_000)({ default: 1024, desc: 'queued requests before 503' }),
};

export type ServingConfig = ReturnType<typeof readServingConfig>;

export function readServingConfig(options: ReadConfigOptions = {}) {
  return readConfig(servingConfigSchema, options);
}
