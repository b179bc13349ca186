/** Small SQL helpers shared by the PostgreSQL adapters. */
import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { SearchFilter } from '../../model.js';

/** The part of pg's Pool that runs a named statement. */
interface NamedStatementPool {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

const statementNames = new Map<string, string>();

/**
 * A search read as a named prepared statement: each pooled connection parses it once (and, after a few runs,
 * PostgreSQL may reuse a generic plan) instead of on every call. On embedded PGlite that is 0.3 of the 0.7 ms a
 * small index lookup takes. Not for statements inside a transaction: the pool picks the connection.
 */
export async function preparedQuery<T>(db: DataSource, text: string, values: unknown[]): Promise<T[]> {
  const pool = (db.driver as unknown as { master?: NamedStatementPool }).master;
  if (!pool) return db.query(text, values);
  let name = statementNames.get(text);
  if (!name) statementNames.set(text, (name = `uds3_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`));
  return (await pool.query({ name, text, values })).rows as T[];
}

/** Appends WHERE conditions for a filter; `d` is the ds_documents alias. */
export function filterConditions(filter: SearchFilter, params: unknown[], d = 'd', idColumn = 'id'): string[] {
  const out: string[] = [];
  const column: Record<string, string> = {
    domain: `${d}.domain`,
    document_type: `${d}.document_type`,
    source: `${d}.source`,
    language: `${d}.language`,
    document_id: `${d}.${idColumn}`,
  };
  for (const [field, col] of Object.entries(column)) {
    const values = filter[field as keyof SearchFilter] as string[] | undefined;
    if (values?.length) {
      params.push(values);
      out.push(`${col} = ANY($${params.length}::text[])`);
    }
  }
  if (filter.min_quality_score !== undefined) {
    params.push(filter.min_quality_score);
    out.push(`${d}.quality_score >= $${params.length}`);
  }
  return out;
}

export const where = (conditions: string[]) => (conditions.length ? `WHERE ${conditions.join(' AND ')}` : '');

/** PostgreSQL text-search configuration for a document language. */
export function tsConfigFor(language: string, configs: Record<string, string>): string {
  return configs[language] ?? 'simple';
}

/**
 * `items` in consecutive pages of about `pageSize` each, as `sizeOf` counts (a page ends once it reaches that size):
 * what a background read asks for in one statement.
 */
export function* pagesOf<T>(items: T[], pageSize: number, sizeOf: (item: T) => number): Generator<T[]> {
  for (let at = 0; at < items.length; ) {
    const page: T[] = [];
    for (let size = 0; at < items.length && size < pageSize; at++) {
      page.push(items[at]);
      size += sizeOf(items[at]);
    }
    yield page;
  }
}
