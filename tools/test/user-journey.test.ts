// The datasets and serving issues' "done when", as a new user does it against the embedded `npm start` suite
// (embedded PGlite + in-process bus, all four services in one process tree, the real engine):
// ingest a folder of documents, search them with the seed's body and weights, freeze a version, export it as
// JSONL, train an adapter on that version, call it by name through the official `openai` client (plain and
// streamed), train a newer version under the same name while requests run (zero failures, the newer version is
// served afterwards), and see per-adapter metrics.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { childScriptPath } from '@clara/engine/cli/train-process';
import { startEmbedded, type EmbeddedSuite } from '../src/start-embedded.js';

const dataDir = mkdtempSync(join(tmpdir(), 'clara-journey-'));
let suite: EmbeddedSuite | undefined;

afterAll(async () => {
  await suite?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const DOCS: Record<string, string> = {
  'photovoltaik.md':
    '# Photovoltaik auf dem Dach\n\nEine Photovoltaik-Dachanlage ist nach Landesbauordnung meist verfahrensfrei. ' +
    'Im Außenbereich gilt § 35 BauGB; die Anlage muss dem Gebäude untergeordnet sein.',
  'aussenbereich.md':
    '# Bauen im Außenbereich\n\nVorhaben im Außenbereich sind nach § 35 BauGB nur ausnahmsweise zulässig. ' +
    'Privilegierte Vorhaben wie Photovoltaik auf Dächern bestehender Gebäude sind begünstigt.',
  'laerm.txt': 'Lärmschutz an Bundesstraßen folgt der Verkehrslärmschutzverordnung (16. BImSchV).',
};

async function json(method: string, url: string, body?: unknown): Promise<{ status: number; data: any }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, data: await res.json() };
}

async function waitForJob(training: string, id: string): Promise<any> {
  const end = Date.now() + 120_000;
  for (;;) {
    const { data } = await json('GET', `${training}/api/training/jobs/${id}`);
    if (['completed', 'failed', 'cancelled'].includes(data.status)) return data;
    if (Date.now() > end) throw new Error(`job ${id} still ${data.status}`);
    await sleep(200);
  }
}

describe('a new user on the embedded suite: curate → train → serve', () => {
  it('ingests, searches, freezes, exports, trains on the version and serves the adapter by name with a hot swap', async () => {
    if (!existsSync(childScriptPath())) throw new Error(`${childScriptPath()} is missing: run \`npm run build\` first (npm test does)`);
    suite = await startEmbedded({
      env: {
        CLARA_DATA_DIR: dataDir, DATABASE_URL: undefined, NATS_URL: undefined, CLARA_SECURITY_MODE: 'debug', LOG_LEVEL: 'error',
        CLARA_TRAINING_PORT: '0', CLARA_DATASETS_PORT: '0', CLARA_SERVING_PORT: '0', CLARA_TRAIN_THREADS: '1',
      },
    });
    const training = suite.services.training!.url!;
    const datasets = suite.services.datasets!.url!;
    const serving = suite.services.serving!.url!;

    // 1. ingest a folder of text/markdown files
    const folder = join(dataDir, 'inbox');
    mkdirSync(folder);
    const form = new FormData();
    for (const [name, text] of Object.entries(DOCS)) {
      writeFileSync(join(folder, name), text);
      form.append('files', new Blob([readFileSync(join(folder, name))], { type: 'text/markdown' }), name);
    }
    form.append('domain', 'verwaltungsrecht');
    const ingested = await fetch(`${datasets}/api/datasets/documents`, { method: 'POST', body: form });
    expect(ingested.status).toBe(201);
    expect(((await ingested.json()) as { document_ids: string[] }).document_ids).toHaveLength(3);

    // 2. search with the seed's body and weights — through the training API's port, as the seed's clients do
    const seedBody = {
      query_text: 'Photovoltaik Dachanlage Außenbereich',
      top_k: 10,
      filters: { domain: 'verwaltungsrecht' },
      search_types: ['vector', 'graph', 'keyword'],
      weights: { vector: 0.5, graph: 0.2, keyword: 0.3 },
    };
    const search = await json('POST', `${training}/api/datasets/search`, seedBody);
    expect([200, 201], JSON.stringify(search.data)).toContain(search.status);
    expect(search.data.success).toBe(true);
    expect(search.data.documents_found).toBeGreaterThanOrEqual(2);
    const titles = search.data.results.map((r: { title: string }) => r.title);
    expect(titles.slice(0, 2).sort()).toEqual(['Bauen im Außenbereich', 'Photovoltaik auf dem Dach']);

    // 3. freeze a version chosen by that query, and export it as JSONL
    const frozen = await json('POST', `${datasets}/api/datasets/versions`, { dataset: 'journey', query: { ...seedBody, export: false } });
    expect(frozen.status, JSON.stringify(frozen.data)).toBe(201);
    const version = frozen.data.version as { id: string; item_count: number };
    expect(version.item_count).toBeGreaterThanOrEqual(2);
    const exported = await json('POST', `${datasets}/api/datasets/versions/${version.id}/export`, { format: 'text', eval_fraction: 0 });
    expect([200, 201], JSON.stringify(exported.data)).toContain(exported.status);
    expect(readFileSync(exported.data.train_path, 'utf8').trim().split('\n')).toHaveLength(version.item_count);

    // 4. train an adapter on that version
    const hyper = { max_steps: 12, learning_rate: 0.01, batch_size: 2, lora_rank: 4, lora_dropout: 0, max_seq_length: 64 };
    const first = await json('POST', `${training}/api/training/jobs`, {
      trainer_type: 'lora', base_model: 'demo-tiny-llama', dataset: version.id, config: { adapter_name: 'journey' }, hyperparameters: hyper,
    });
    expect(first.status, JSON.stringify(first.data)).toBe(201);
    const done1 = await waitForJob(training, first.data.job_id);
    expect(done1.status, JSON.stringify(done1)).toBe('completed');
    const lineage = await json('GET', `${datasets}/api/datasets/versions/${version.id}/lineage`);
    expect(lineage.data.training_jobs.map((t: { training_job_id: string }) => t.training_job_id)).toContain(first.data.job_id);

    // 5. call it by name with the official OpenAI client (loaded from the registry on first use), then stream
    const openai = new OpenAI({ baseURL: `${serving}/v1`, apiKey: 'unused-in-debug-mode', maxRetries: 0 });
    const plain = await openai.completions.create({ model: 'journey', prompt: 'Photovoltaik', max_tokens: 6, temperature: 0 });
    expect(plain.model).toBe('journey');
    expect(plain.usage?.completion_tokens).toBeGreaterThan(0);
    const stream = await openai.chat.completions.create({ model: 'journey', messages: [{ role: 'user', content: 'Außenbereich?' }], max_tokens: 6, temperature: 0, stream: true });
    let chunks = 0;
    for await (const chunk of stream) if (chunk.choices[0]?.delta?.content !== undefined) chunks++;
    expect(chunks).toBeGreaterThan(0);
    const v1 = (await openai.models.list()).data.find((m) => m.id === 'journey') as unknown as { version: number | string };
    expect(String(v1.version)).toBe('1');

    // 6. a newer version under the same name while requests keep running: none fails, version 2 is served after
    let stop = false;
    let served = 0;
    const failures: string[] = [];
    const load = Array.from({ length: 3 }, async () => {
      while (!stop) {
        await openai.completions
          .create({ model: 'journey', prompt: 'Dach', max_tokens: 4, temperature: 0 })
          .then(() => served++)
          .catch((err: Error) => failures.push(err.message));
      }
    });
    const second = await json('POST', `${training}/api/training/jobs`, {
      trainer_type: 'lora', base_model: 'demo-tiny-llama', dataset: version.id, config: { adapter_name: 'journey' }, hyperparameters: { ...hyper, seed: 7 },
    });
    expect(second.status).toBe(201);
    expect((await waitForJob(training, second.data.job_id)).status).toBe('completed');
    const end = Date.now() + 30_000;
    let current = '1';
    while (current !== '2' && Date.now() < end) {
      await sleep(200);
      current = String(((await openai.models.list()).data.find((m) => m.id === 'journey') as unknown as { version: number | string } | undefined)?.version);
    }
    stop = true;
    await Promise.all(load);
    expect(current).toBe('2');
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(0);

    // 7. per-adapter metrics
    const metrics = await (await fetch(`${serving}/metrics`)).text();
    expect(metrics).toMatch(/clara_serving_generation_tokens_total\{model="journey"\} [1-9]/);
  }, 300_000);
});
