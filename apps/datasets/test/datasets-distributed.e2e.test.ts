/**
 * The datasets service in its distributed configuration, every dependency a real server: PostgreSQL (own
 * database), CouchDB API (pouchdb-server), Chroma and NATS JetStream. A second NATS client plays the training
 * API: it asks for a version export over request/reply and sees the ingestion event on the JetStream stream.
 * It also asks the seed's search and statistics the way the training API (port 45680) forwards them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetRpcSubjects, Subjects, type DatasetDocumentsIngestedEvent, type DatasetExportRpcReply } from '@clara/contracts';
import { NatsBus, type BusMessage } from '@clara/platform';
import { TEST_NATS_URL, createTestDatabase, uniqueId, type TestDatabase } from '@clara/platform/testing';
import { startChroma, startPouchServer, type RunningServer } from '@clara/uds3/testing';
import { bootstrap, type DatasetsApp } from '../src/app.js';

let app: DatasetsApp;
let db: TestDatabase;
let couch: RunningServer;
let chroma: RunningServer;
let client: NatsBus;
let dataDir: string;
const ingested: BusMessage<DatasetDocumentsIngestedEvent>[] = [];

describe('datasets service on PostgreSQL + CouchDB + Chroma + NATS', () => {
  beforeAll(async () => {
    [db, couch, chroma] = await Promise.all([createTestDatabase('datasets'), startPouchServer(), startChroma()]);
    dataDir = mkdtempSync(join(tmpdir(), 'clara-datasets-dist-'));
    const suffix = uniqueId('d');
    app = await bootstrap({
      env: {
        CLARA_DATA_DIR: dataDir,
        CLARA_DATASETS_PORT: '0',
        CLARA_DATASETS_HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        NATS_URL: TEST_NATS_URL,
        CLARA_SECURITY_MODE: 'debug',
        DEBUG_USER_ROLES: 'admin,trainer,analyst',
        UDS3_DOCUMENT_STORE: 'couchdb',
        COUCHDB_URL: couch.url,
        COUCHDB_DATABASE: `docs_${suffix}`,
        UDS3_VECTOR_STORE: 'chroma',
        CHROMA_URL: chroma.url,
        CHROMA_COLLECTION: `chunks_${suffix}`,
        LOG_LEVEL: 'warn',
      },
    });
    client = await NatsBus.connect({ url: TEST_NATS_URL, name: 'fake-training-api' });
    await client.subscribe<DatasetDocumentsIngestedEvent>(Subjects.datasetDocumentsIngested, (m) => {
      ingested.push(m);
    });
  });
  afterAll(async () => {
    await client?.close();
    await app?.close();
    await Promise.allSettled([db?.drop(), couch?.stop(), chroma?.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('ingests over HTTP into every store and announces it on JetStream', async () => {
    const id = uniqueId('doc');
    const res = await fetch(`${app.url}/api/datasets/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { id, title: 'Außenbereich', content: 'Vorhaben im Außenbereich sind nach § 35 BauGB nur ausnahmsweise zulässig. Photovoltaik auf Dächern ist privilegiert.', domain: 'verwaltungsrecht' },
        { title: 'Lärm', content: 'Lärmschutzwände an Bundesstraßen folgen der Verkehrslärmschutzverordnung.', domain: 'umweltrecht' },
      ]),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { document_ids: string[] };
    expect(body.document_ids[0]).toBe(id);
    expect(app.uds3.stores.documents.kind).toBe('couchdb');
    expect(app.uds3.stores.vectors.kind).toBe('chroma');
    expect((await app.uds3.stores.documents.getMany([id]))[0].title).toBe('Außenbereich');
    expect(await app.uds3.stores.vectors.count()).toBe(2);
    for (let i = 0; i < 50 && !ingested.some((m) => m.data.document_ids.includes(id)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(ingested.find((m) => m.data.document_ids.includes(id))?.data.chunk_count).toBe(2);
  });

  it('exports a frozen version for a training job over NATS request/reply, with 400s passed as status', async () => {
    const version = await fetch(`${app.url}/api/datasets/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'dist', query: { query_text: 'Photovoltaik im Außenbereich § 35 BauGB', top_k: 3, export: false } }),
    }).then((r) => r.json() as Promise<{ version: { id: string; item_count: number } }>);
    const reply = await client.request<unknown, DatasetExportRpcReply>(
      DatasetRpcSubjects.exportVersion,
      { payload: { version: version.version.id, format: 'text', eval_fraction: 0, training_job_id: 'job-nats-1' }, user: { email: 't@x', roles: ['trainer'] } },
      15_000,
    );
    expect(reply.train_count).toBe(version.version.item_count);
    expect(readFileSync(reply.train_path, 'utf8').trim().split('\n')).toHaveLength(reply.train_count);
    expect(await app.uds3.stores.metadata.versionsOfJob('job-nats-1')).toEqual([{ version_id: version.version.id, dataset: 'dist', number: 1, relation: 'trained_on' }]);
    const err = (await client
      .request(DatasetRpcSubjects.exportVersion, { payload: { version: version.version.id, format: 'csv' }, user: { email: 't@x', roles: ['trainer'] } }, 15_000)
      .catch((e) => e)) as { status?: number; message: string };
    expect(err.status).toBe(400);
    expect(err.message).toContain('format');
    const denied = (await client
      .request(DatasetRpcSubjects.exportVersion, { payload: { version: version.version.id }, user: { email: 'a@x', roles: ['analyst'] } }, 15_000)
      .catch((e) => e)) as { status?: number };
    expect(denied.status).toBe(403);
  });

  it("answers the seed's search and statistics forwarded over real NATS (as the training API sends them)", async () => {
    const user = { email: 'analyst@x', roles: ['analyst'] };
    const search = await client.request<unknown, { success: boolean; documents_found: number; results: { title: string }[] }>(
      Subjects.datasetSearchRequest,
      { payload: { query_text: 'Photovoltaik Außenbereich', top_k: 5, search_types: ['vector', 'keyword', 'graph'], weights: { vector: 0.5, keyword: 0.3, graph: 0.2 }, export: false }, user },
      15_000,
    );
    expect(search.success).toBe(true);
    expect(search.results.map((r) => r.title)).toContain('Außenbereich');
    const stats = await client.request<unknown, { success: boolean; statistics: { total_documents: number } }>(
      Subjects.datasetStatisticsRequest,
      { payload: {}, user },
      15_000,
    );
    expect(stats.statistics.total_documents).toBeGreaterThanOrEqual(2);
    const bad = (await client
      .request(Subjects.datasetSearchRequest, { payload: { query_text: '', top_k: 5 }, user }, 15_000)
      .catch((e) => e)) as { status?: number; message: string };
    expect(bad.status).toBe(400);
    expect(bad.message).toContain('query_text');
  });
});
