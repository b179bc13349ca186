/**
 * End to end over HTTP against the embedded default (PGlite + pgvector, graph tables, hashing embedder), as a
 * new user would: ingest a folder, search with the seed's body and weights, freeze a version, export JSONL,
 * record lineage; plus bad input, roles, events and the bus responders the training API forwards to.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthConfig, mintTestToken } from '@clara/auth';
import { DatasetRpcSubjects, Subjects } from '@clara/contracts';
import { BusRemoteError, InProcessBus, type BusMessage } from '@clara/platform';
import { bootstrap, type DatasetsApp } from '../src/app.js';
import { FOLDER_DOCS, PAIRS_JSONL, writeFolder } from './fixtures.js';

const MAX_UPLOAD = 64 * 1024;
let app: DatasetsApp;
let bus: InProcessBus;
let dataDir: string;
let trainer: string;
let analyst: string;
const events: BusMessage[] = [];

async function call(method: string, path: string, options: { token?: string; json?: unknown; body?: string | FormData; type?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  if (options.type) headers['content-type'] = options.type;
  const res = await fetch(app.url + path, { method, headers, body });
  const text = await res.text();
  let data: any = text;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON (downloads)
  }
  return { status: res.status, data };
}

function folderForm(dir: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  for (const name of readdirSync(dir).sort()) form.append('files', new Blob([readFileSync(join(dir, name))], { type: 'text/markdown' }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

const seedBody = {
  query_text: 'Photovoltaik Dachanlage im Außenbereich nach § 35 BauGB',
  top_k: 5,
  filters: { domain: 'verwaltungsrecht' },
  min_quality_score: 0.3,
  search_types: ['vector', 'graph', 'keyword'],
  weights: { vector: 0.5, graph: 0.2, keyword: 0.3 },
};

describe('datasets service over HTTP (embedded default)', () => {
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'clara-datasets-e2e-'));
    const env = {
      CLARA_DATA_DIR: dataDir,
      CLARA_DATASETS_PORT: '0',
      CLARA_DATASETS_HOST: '127.0.0.1',
      DATABASE_URL: undefined,
      NATS_URL: undefined,
      CLARA_SECURITY_MODE: 'testing',
      UDS3_MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      UDS3_CHUNK_TOKENS: '64',
      UDS3_CHUNK_OVERLAP: '8',
      LOG_LEVEL: 'warn',
    };
    bus = new InProcessBus();
    await bus.subscribe('clara.datasets.>', (m) => {
      events.push(m);
    });
    app = await bootstrap({ env, bus });
    const auth = loadAuthConfig({ ...process.env, ...env });
    trainer = await mintTestToken(auth, { roles: ['trainer'], email: 'trainer@clara.local' });
    analyst = await mintTestToken(auth, { roles: ['analyst'], email: 'analyst@clara.local' });
  });

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ingests a folder of text/markdown files, JSONL pairs and a JSON array', async () => {
    const folder = writeFolder(join(dataDir, 'folder'));
    const up = await call('POST', '/api/datasets/documents', {
      token: trainer,
      body: folderForm(folder, { domain: 'verwaltungsrecht', document_type: 'guideline', language: 'de' }),
    });
    expect(up.status).toBe(201);
    expect(up.data.document_ids).toHaveLength(Object.keys(FOLDER_DOCS).length);
    expect(up.data.chunk_count).toBeGreaterThanOrEqual(5);

    const jsonl = await call('POST', '/api/datasets/documents', { token: trainer, body: PAIRS_JSONL, type: 'application/x-ndjson' });
    expect(jsonl.status).toBe(201);
    expect(jsonl.data.document_ids).toEqual(['qa-pv', 'qa-35']);

    const json = await call('POST', '/api/datasets/documents', {
      token: trainer,
      json: [
        {
          id: 'lärm-1',
          title: 'Lärmschutz',
          content: 'Lärmschutzwände an Bundesstraßen werden nach der Verkehrslärmschutzverordnung geplant. Die Grenzwerte gelten für Wohngebiete.',
          domain: 'umweltrecht',
          document_type: 'regulation',
        },
      ],
    });
    expect(json.status).toBe(400); // "lärm-1": ids allow ASCII only
    expect(json.data.field).toBe('body[0].id');

    const ok = await call('POST', '/api/datasets/documents', {
      token: trainer,
      json: {
        documents: [
          {
            id: 'laerm-1',
            title: 'Lärmschutz',
            content: 'Lärmschutzwände an Bundesstraßen werden nach der Verkehrslärmschutzverordnung geplant. Die Grenzwerte gelten für Wohngebiete.',
            domain: 'umweltrecht',
            document_type: 'regulation',
          },
        ],
      },
    });
    expect(ok.status).toBe(201);
    expect(ok.data.document_ids).toEqual(['laerm-1']);

    const doc = await call('GET', `/api/datasets/documents/${up.data.document_ids[4]}`, { token: analyst });
    expect(doc.status).toBe(200);
    expect(doc.data.quality.signals.pii.emails).toBe(1); // widerspruch.txt carries an e-mail address
    expect(doc.data.content).toContain('Widerspruch');
    expect(events.filter((e) => e.subject === Subjects.datasetDocumentsIngested)).toHaveLength(3);
  });

  it("searches with the seed's body and weights, best first, with every signal's score", async () => {
    const res = await call('POST', '/api/datasets/search', { token: analyst, json: seedBody });
    expect(res.status).toBe(200);
    const { data } = res;
    expect(data.success).toBe(true);
    expect(data.results.length).toBeGreaterThan(0);
    expect(data.results.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < data.results.length; i++) expect(data.results[i].score).toBeLessThanOrEqual(data.results[i - 1].score);
    const top = data.results[0];
    expect(top.content).toContain('§ 35');
    expect(top.scores.graph).toBeGreaterThan(0);
    expect(top.scores.keyword).toBeGreaterThan(0);
    expect(top.scores.vector).toBeGreaterThan(0);
    for (const r of data.results) {
      expect(r.domain).toBe('verwaltungsrecht');
      expect(r.quality_score).toBeGreaterThanOrEqual(0.3);
    }
    expect(data.documents_found).toBe(new Set(data.results.map((r: { document_id: string }) => r.document_id)).size);
    expect(Object.keys(data.statistics).sort()).toEqual(
      ['avg_quality_score', 'avg_relevance_score', 'document_types', 'domains', 'total_chunks', 'total_documents', 'total_tokens'].sort(),
    );
    expect(data.message).toBe(`Found ${data.documents_found} documents matching query`);
    const lines = readFileSync(data.dataset_path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(data.results.length);
    // graph alone: the § 34 BauGB text is reached through the law node BauGB although it never says "§ 35"
    const graph = await call('POST', '/api/datasets/search', { token: analyst, json: { query_text: '§ 35 BauGB', search_types: ['graph'], export: false } });
    expect(graph.data.results.map((r: { content: string }) => r.content).join('\n')).toContain('§ 34 BauGB');
    const rrf = await call('POST', '/api/datasets/search', { token: analyst, json: { ...seedBody, fusion: 'rrf', export: false } });
    expect(rrf.status).toBe(200);
    expect(rrf.data.results[0].score).toBeLessThan(0.05); // RRF scores are Σ w/(60+rank)
  });

  it('answers bad input with 400 naming the field and ingests nothing of a bad batch', async () => {
    const before = (await call('GET', '/api/datasets/statistics', { token: analyst })).data.statistics.total_documents;
    const cases: [unknown, string][] = [
      [{ query_text: '' }, 'query_text'],
      [{ query_text: 'x', top_k: 0 }, 'top_k'],
      [{ query_text: 'x', top_k: 1001 }, 'top_k'],
      [{ query_text: 'x', search_types: ['semantic'] }, 'search_types'],
      [{ query_text: 'x', weights: { vector: -0.5 } }, 'weights.vector'],
      [{ query_text: 'x', filters: { author: 'me' } }, 'filters.author'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/api/datasets/search', { token: analyst, json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.data.field).toBe(field);
      expect(res.data.message).toContain(field);
    }
    const badLine = `${JSON.stringify({ title: 'ok', content: 'Ein gültiges Dokument über Baurecht.' })}\n{"title": "broken",\n`;
    const jsonl = await call('POST', '/api/datasets/documents', { token: trainer, body: badLine, type: 'application/x-ndjson' });
    expect(jsonl.status).toBe(400);
    expect(jsonl.data.field).toBe('line 2');
    const malformed = await call('POST', '/api/datasets/search', { token: analyst, body: '{"query_text": ', type: 'application/json' });
    expect(malformed.status).toBe(400);
    const big = new FormData();
    big.append('files', new Blob(['Baurecht '.repeat(MAX_UPLOAD / 4)], { type: 'text/plain' }), 'big.txt');
    const oversized = await call('POST', '/api/datasets/documents', { token: trainer, body: big });
    expect(oversized.status).toBe(400);
    expect(oversized.data.field).toBe('files');
    const missingContent = await call('POST', '/api/datasets/documents', { token: trainer, json: [{ title: 'a', content: 'Text über Bauleitplanung.' }, { title: 'b' }] });
    expect(missingContent.status).toBe(400);
    expect(missingContent.data.field).toBe('body[1].content');
    const after = (await call('GET', '/api/datasets/statistics', { token: analyst })).data.statistics.total_documents;
    expect(after).toBe(before);
    expect((await call('GET', '/api/datasets/statistics?author=x', { token: analyst })).status).toBe(400);
  });

  it('enforces roles: analysts search but do not ingest; no token → 401', async () => {
    expect((await call('POST', '/api/datasets/documents', { token: analyst, json: [{ title: 't', content: 'c' }] })).status).toBe(403);
    expect((await call('POST', '/api/datasets/search', { json: seedBody })).status).toBe(401);
    expect((await call('GET', '/health')).status).toBe(200);
  });

  it('reports ready (GET /ready, public) once the keyword index is warm; 503 "warming" until then', async () => {
    let ready = await call('GET', '/ready');
    for (let i = 0; i < 100 && ready.status === 503; i++) {
      expect(ready.data.status).toBe('warming');
      await new Promise((r) => setTimeout(r, 50));
      ready = await call('GET', '/ready');
    }
    expect(ready.status).toBe(200);
    expect(ready.data).toEqual({ status: 'ready', service: 'clara-datasets' });
  });

  let versionId: string;

  it('freezes a version from a query, idempotently by content, and diffs versions', async () => {
    const created = await call('POST', '/api/datasets/versions', {
      token: trainer,
      json: { dataset: 'baurecht', query: { ...seedBody, export: false }, description: 'PV im Außenbereich' },
    });
    expect(created.status).toBe(201);
    expect(created.data.created).toBe(true);
    const v = created.data.version;
    versionId = v.id;
    expect(v).toMatchObject({ dataset: 'baurecht', number: 1 });
    expect(v.item_count).toBeGreaterThan(0);
    expect(v.manifest_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(v.selection.query.query_text).toBe(seedBody.query_text);
    const again = await call('POST', '/api/datasets/versions', { token: trainer, json: { dataset: 'baurecht', query: { ...seedBody, export: false } } });
    expect(again.data).toMatchObject({ created: false, version: { id: v.id, number: 1 } });
    const all = await call('POST', '/api/datasets/versions', { token: trainer, json: { dataset: 'baurecht', filters: { domain: 'verwaltungsrecht' } } });
    expect(all.data.version.number).toBe(2);
    const diff = await call('GET', `/api/datasets/versions/${v.id}/diff/baurecht@2`, { token: analyst });
    expect(diff.status).toBe(200);
    expect(diff.data.removed).toEqual([]);
    expect(diff.data.unchanged).toBe(v.item_count);
    expect(diff.data.added.length).toBe(all.data.version.item_count - v.item_count);
    expect(events.filter((e) => e.subject === Subjects.datasetVersionCreated)).toHaveLength(2);
    expect((await call('POST', '/api/datasets/versions', { token: trainer, json: { dataset: 'bad name!' } })).data.field).toBe('dataset');
  });

  it('exports JSONL (text, chat, alpaca) with a deterministic split and serves the files', async () => {
    const text = await call('POST', `/api/datasets/versions/baurecht@2/export`, { token: trainer, json: { format: 'text', eval_fraction: 0.3, seed: 7 } });
    expect(text.status).toBe(200);
    const train = await call('GET', text.data.train_url, { token: analyst });
    const evalFile = await call('GET', text.data.eval_url, { token: analyst });
    const trainLines = String(train.data).trim().split('\n').filter(Boolean);
    const evalLines = String(evalFile.data).trim().split('\n').filter(Boolean);
    expect(trainLines.length).toBe(text.data.train_count);
    expect(evalLines.length).toBe(text.data.eval_count);
    for (const l of trainLines) expect(Object.keys(JSON.parse(l))).toEqual(['text']);
    const again = await call('POST', `/api/datasets/versions/baurecht@2/export`, { token: trainer, json: { format: 'text', eval_fraction: 0.3, seed: 7 } });
    expect(readFileSync(again.data.train_path, 'utf8')).toBe(readFileSync(text.data.train_path, 'utf8'));

    const chat = await call('POST', `/api/datasets/versions/baurecht@2/export`, { token: trainer, json: { format: 'chat', eval_fraction: 0 } });
    const chatLines = readFileSync(chat.data.train_path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(chatLines).toHaveLength(2); // the two instruction documents; plain documents have no pair and no template
    expect(chatLines.every((r) => Array.isArray(r.messages) && r.messages.at(-1).role === 'assistant')).toBe(true);
    const alpaca = await call('POST', `/api/datasets/versions/baurecht@2/export`, { token: trainer, json: { format: 'alpaca', eval_fraction: 0 } });
    const alpacaLines = readFileSync(alpaca.data.train_path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(alpacaLines).toContainEqual({ instruction: 'Erkläre kurz § 35 BauGB.', input: 'Außenbereich', output: expect.stringContaining('Außenbereich') });
    const templated = await call('POST', `/api/datasets/versions/baurecht@2/export`, {
      token: trainer,
      json: { format: 'alpaca', eval_fraction: 0, template: { instruction: 'Fasse zusammen: {title}', output: '{content}' } },
    });
    // every chunk of a plain document through the template, plus the two pair documents (one chunk each) as they are
    expect(templated.data.train_count).toBe(text.data.train_count + text.data.eval_count);
    expect(templated.data.skipped).toBe(0);
    expect(readFileSync(templated.data.train_path, 'utf8')).toContain('"instruction":"Fasse zusammen: Bauen im Außenbereich"');
    expect((await call('POST', `/api/datasets/versions/baurecht@2/export`, { token: trainer, json: { format: 'csv' } })).data.field).toBe('format');
    expect((await call('GET', `/api/datasets/versions/${versionId}/files/..%2F..%2Fetc.jsonl`, { token: analyst })).status).toBe(400);
  });

  it('records lineage and answers the bus requests the training API forwards', async () => {
    const lin = await call('POST', `/api/datasets/versions/${versionId}/lineage`, { token: trainer, json: { training_job_id: 'job-123' } });
    expect(lin.status).toBe(201);
    const jobs = await call('GET', `/api/datasets/lineage/jobs/job-123`, { token: analyst });
    expect(jobs.data.versions).toEqual([{ version_id: versionId, dataset: 'baurecht', number: 1, relation: 'trained_on' }]);

    const viaBus = await bus.request<unknown, any>(Subjects.datasetSearchRequest, { payload: { ...seedBody, export: false } }, 10_000);
    const viaHttp = await call('POST', '/api/datasets/search', { token: analyst, json: { ...seedBody, export: false } });
    expect(viaBus.results.map((r: { chunk_id: string }) => r.chunk_id)).toEqual(viaHttp.data.results.map((r: { chunk_id: string }) => r.chunk_id));
    const err = await bus.request(Subjects.datasetSearchRequest, { payload: { query_text: 'x', top_k: 0 } }, 10_000).catch((e) => e);
    expect(err).toBeInstanceOf(BusRemoteError);
    expect((err as BusRemoteError).status).toBe(400);
    const stats = await bus.request<unknown, any>(Subjects.datasetStatisticsRequest, { payload: {} }, 10_000);
    expect(stats.statistics.total_documents).toBe(8); // 5 files + 2 pairs + 1 JSON document
    const histogramTotal = stats.statistics.quality_histogram.reduce((s: number, b: { count: number }) => s + b.count, 0);
    expect(histogramTotal).toBe(8);
    const exported = await bus.request<unknown, any>(
      DatasetRpcSubjects.exportVersion,
      { payload: { version: versionId, format: 'text', training_job_id: 'job-456' }, user: { email: 't@x', roles: ['trainer'] } },
      10_000,
    );
    expect(readFileSync(exported.train_path, 'utf8').length).toBeGreaterThan(0);
    expect((await call('GET', `/api/datasets/versions/${versionId}/lineage`, { token: analyst })).data.training_jobs.map((j: { training_job_id: string }) => j.training_job_id).sort()).toEqual(['job-123', 'job-456']);
  });
});
