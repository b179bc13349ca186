/** Document bodies in CouchDB (or anything speaking its HTTP API, e.g. pouchdb-server) through `nano`. */
import nano from 'nano';
import type { StoredDocument } from '../../model.js';
import type { DocumentStore } from '../interfaces.js';

export interface CouchOptions {
  url: string;
  database?: string;
}

type CouchDoc = StoredDocument & { _id: string; _rev?: string };

export class CouchDocumentStore implements DocumentStore {
  readonly kind = 'couchdb';
  private readonly server: nano.ServerScope;
  private readonly dbName: string;
  private db!: nano.DocumentScope<CouchDoc>;

  constructor(options: CouchOptions) {
    this.server = nano(options.url);
    this.dbName = options.database ?? 'clara_documents';
  }

  async init(): Promise<void> {
    try {
      await this.server.db.create(this.dbName);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 412) throw err; // 412: exists already
    }
    this.db = this.server.use<CouchDoc>(this.dbName);
  }

  async putMany(docs: StoredDocument[]): Promise<void> {
    if (!docs.length) return;
    // _bulk_docs needs the current revision to replace a document
    const existing = await this.db.fetchRevs({ keys: docs.map((d) => d.id) });
    const revs = new Map<string, string>();
    for (const row of existing.rows) if ('value' in row && row.value && !(row.value as { deleted?: boolean }).deleted) revs.set(row.key, row.value.rev);
    const result = await this.db.bulk({
      docs: docs.map((d) => ({ ...d, _id: d.id, ...(revs.has(d.id) ? { _rev: revs.get(d.id) } : {}) })),
    });
    const failed = result.filter((r) => r.error);
    if (failed.length) throw new Error(`CouchDB rejected ${failed.length} documents: ${failed[0].id}: ${failed[0].error} ${failed[0].reason ?? ''}`);
  }

  async getMany(ids: string[]): Promise<StoredDocument[]> {
    if (!ids.length) return [];
    const res = await this.db.fetch({ keys: ids });
    const out: StoredDocument[] = [];
    for (const row of res.rows) {
      if ('doc' in row && row.doc) {
        const { _id, _rev, ...doc } = row.doc as CouchDoc;
        out.push(doc as StoredDocument);
      }
    }
    return out;
  }

  async deleteMany(ids: string[]): Promise<void> {
    if (!ids.length) return;
    const existing = await this.db.fetchRevs({ keys: ids });
    const docs = existing.rows
      .filter((r) => 'value' in r && r.value && !(r.value as { deleted?: boolean }).deleted)
      .map((r) => ({ _id: r.key, _rev: (r as { value: { rev: string } }).value.rev, _deleted: true }));
    if (docs.length) await this.db.bulk({ docs: docs as never });
  }

  async close(): Promise<void> {}
}
