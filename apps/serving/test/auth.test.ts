/**
 * E2E in the auth library's `testing` mode (real RS256 tokens): the serving permission gates the API and the
 * per-adapter rule (tenant or role) answers 403 in OpenAI's shape for callers it does not name.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthConfig, mintTestToken } from '@clara/auth';
import type { ServingApp } from '../src/app.js';
import { postJson, startServing, tinyModelFixture, writeAdapter, type Fixture } from './helpers.js';

let fx: Fixture;
let serving: ServingApp;
const env = {
  CLARA_SECURITY_MODE: 'testing',
  CLARA_SERVING_ADAPTER_ACL: JSON.stringify({ 'acme-*': { tenants: ['acme'] }, 'ops-bot': { roles: ['trainer'] } }),
};
const authConfig = loadAuthConfig(env);
const token = (roles: string[]) => mintTestToken(authConfig, { roles });
const client = async (roles: string[]) => new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: await token(roles), maxRetries: 0 });

beforeAll(async () => {
  fx = await tinyModelFixture();
  serving = await startServing(fx, env);
  const adapter = await writeAdapter(join(fx.root, 'adapters', 'x'), fx.config, 5, 2);
  const admin = { authorization: `Bearer ${await token(['admin'])}` };
  for (const name of ['acme-legal', 'ops-bot', 'open-bot']) {
    expect((await postJson(`${serving.url}/v1/load_lora_adapter`, { lora_name: name, lora_path: adapter }, admin)).status).toBe(200);
  }
});

afterAll(async () => {
  await serving?.close();
  await fx?.cleanup();
});

describe('serving access control', () => {
  it('rejects requests without a valid token (401, OpenAI shape); health and metrics stay public', async () => {
    const anonymous = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: 'not-a-jwt', maxRetries: 0 });
    await expect(anonymous.completions.create({ model: 'tiny', prompt: 'hi', max_tokens: 2 })).rejects.toMatchObject({ status: 401, type: 'authentication_error' });
    expect((await fetch(`${serving.url}/health`)).status).toBe(200);
    expect((await fetch(`${serving.url}/metrics`)).status).toBe(200);
  });

  it('per-adapter rules: tenant and role matches pass, others get 403 permission_error', async () => {
    const acmeAnalyst = await client(['analyst', 'tenant:acme']);
    const globexAnalyst = await client(['analyst', 'tenant:globex']);
    const trainer = await client(['trainer']);
    const ok = (c: OpenAI, model: string) => c.completions.create({ model, prompt: 'hi', max_tokens: 2 });
    await expect(ok(acmeAnalyst, 'acme-legal')).resolves.toMatchObject({ object: 'text_completion' });
    await expect(ok(trainer, 'ops-bot')).resolves.toMatchObject({ object: 'text_completion' });
    await expect(ok(globexAnalyst, 'open-bot')).resolves.toMatchObject({ object: 'text_completion' });
    await expect(ok(globexAnalyst, 'tiny')).resolves.toMatchObject({ object: 'text_completion' });
    await expect(ok(globexAnalyst, 'acme-legal')).rejects.toMatchObject({ status: 403, type: 'permission_error', param: 'model' });
    await expect(ok(acmeAnalyst, 'ops-bot')).rejects.toMatchObject({ status: 403, code: 'model_access_denied' });
  });

  it('managing adapters needs adapter.manage (analysts get 403)', async () => {
    const res = await postJson(`${serving.url}/v1/unload_lora_adapter`, { lora_name: 'open-bot' }, { authorization: `Bearer ${await token(['analyst'])}` });
    expect(res.status).toBe(403);
    expect(res.json.error.type).toBe('permission_error');
  });
});
