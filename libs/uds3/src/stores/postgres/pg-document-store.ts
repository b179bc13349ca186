/** Document bodies as JSONB rows in PostgreSQL: the embedded default for the document store. */
import type { DataSource } from 'typeorm';
import type { StoredDocument } from '../../model.js';
import type { DocumentStore } from '../interfaces.js';

export class PgDocumentStore implements DocumentStore {
  readonly kind = 'postgres';
  constructor(private readonly db: DataSource) {}

  async init(): Promise<void> {
    // table created by the UDS3 migrations
  }

  async putMany(docs: StoredDocument[]): Promise<void> {
    if (!docs.length) return;
    await this.db.query(
      `INSERT INTO ds_document_bodies (id, body) SELECT u.id, u.body::jsonb FROM unnest($1::text[], $2::text[]) AS u(id, body)
       ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body`,
      [docs.map((d) => d.id), docs.map((d) => JSON.stringify(d))],
    );
  }

  async getMany(ids: string[]): Promise<StoredDocument[]> {
    const rows = await this.db.query(`SELECT body FROM ds_document_bodies WHERE id = ANY($1::text[])`, [ids]);
    const byId = new Map<string, StoredDocument>(rows.map((r: { body: StoredDocument }) => [r.body.id, r.body]));
    return ids.map((id) => byId.get(id)).filter((d): d is StoredDocument => !!d);
  }

  async deleteMany(ids: string[]): Promise<void> {
    await this.db.query(`DELETE FROM ds_document_bodies WHERE id = ANY($1::text[])`, [ids]);
  }

  async close(): Promise<void> {}
}
