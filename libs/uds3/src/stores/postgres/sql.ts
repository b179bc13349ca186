/** Small SQL helpers shared by the PostgreSQL adapters. */
import type { SearchFilter } from '../../model.js';

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
