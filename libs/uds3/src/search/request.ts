/** Validation of the seed's search body; every problem names the offending field. */
import { Uds3InputError } from '../errors.js';
import { FILTER_FIELDS, SEARCH_TYPES, type FilterField, type SearchFilter, type SearchType } from '../model.js';

export interface SearchQuery {
  queryText: string;
  topK: number;
  filter: SearchFilter;
  types: SearchType[];
  /** Normalised to sum 1 over `types`. */
  weights: Record<SearchType, number>;
  fusion: 'weighted' | 'rrf';
  graphHops: number;
}

export const DEFAULT_WEIGHTS: Record<SearchType, number> = { vector: 0.5, graph: 0.2, keyword: 0.3 };
export const MAX_TOP_K = 1000;
export const MAX_QUERY_CHARS = 4000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseFilter(raw: unknown, minQuality: unknown, field = 'filters'): SearchFilter {
  const filter: SearchFilter = {};
  if (raw !== undefined && raw !== null) {
    if (!isObject(raw)) throw new Uds3InputError(field, 'must be an object');
    for (const [key, value] of Object.entries(raw)) {
      if (!(FILTER_FIELDS as readonly string[]).includes(key)) {
        throw new Uds3InputError(`${field}.${key}`, `unknown filter field; allowed: ${FILTER_FIELDS.join(', ')}`);
      }
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0 || values.some((v) => typeof v !== 'string' || v.length === 0 || v.length > 200)) {
        throw new Uds3InputError(`${field}.${key}`, 'must be a non-empty string or a non-empty array of strings');
      }
      filter[key as FilterField] = values as string[];
    }
  }
  if (minQuality !== undefined && minQuality !== null) {
    if (typeof minQuality !== 'number' || !Number.isFinite(minQuality) || minQuality < 0 || minQuality > 1) {
      throw new Uds3InputError('min_quality_score', 'must be a number between 0 and 1');
    }
    filter.min_quality_score = minQuality;
  }
  return filter;
}

export function parseSearchRequest(body: unknown, options: { maxTopK?: number; requireQuery?: boolean } = {}): SearchQuery {
  if (!isObject(body)) throw new Uds3InputError('body', 'must be a JSON object');
  const known = new Set(['query_text', 'top_k', 'filters', 'min_quality_score', 'search_types', 'weights', 'fusion', 'graph_hops', 'export']);
  for (const key of Object.keys(body)) if (!known.has(key)) throw new Uds3InputError(key, 'unknown field');

  const q = body.query_text;
  if (typeof q !== 'string' || q.trim().length === 0) throw new Uds3InputError('query_text', 'must be a non-empty string');
  if (q.length > MAX_QUERY_CHARS) throw new Uds3InputError('query_text', `must be at most ${MAX_QUERY_CHARS} characters`);

  const maxTopK = options.maxTopK ?? MAX_TOP_K;
  const topK = body.top_k ?? 10;
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > maxTopK) {
    throw new Uds3InputError('top_k', `must be an integer between 1 and ${maxTopK}`);
  }

  const filter = parseFilter(body.filters, body.min_quality_score);

  let types: SearchType[] = [...SEARCH_TYPES];
  if (body.search_types !== undefined) {
    if (!Array.isArray(body.search_types) || body.search_types.length === 0) {
      throw new Uds3InputError('search_types', `must be a non-empty array of ${SEARCH_TYPES.join(', ')}`);
    }
    for (const t of body.search_types) {
      if (!(SEARCH_TYPES as readonly unknown[]).includes(t)) {
        throw new Uds3InputError('search_types', `unknown search type ${JSON.stringify(t)}; allowed: ${SEARCH_TYPES.join(', ')}`);
      }
    }
    types = [...new Set(body.search_types as SearchType[])];
  }

  const weights = { ...DEFAULT_WEIGHTS };
  if (body.weights !== undefined) {
    if (!isObject(body.weights)) throw new Uds3InputError('weights', 'must be an object');
    for (const [key, w] of Object.entries(body.weights)) {
      if (!(SEARCH_TYPES as readonly string[]).includes(key)) throw new Uds3InputError(`weights.${key}`, 'unknown search type');
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new Uds3InputError(`weights.${key}`, 'must be a non-negative number');
      weights[key as SearchType] = w;
    }
  }
  const total = types.reduce((s, t) => s + weights[t], 0);
  if (total <= 0) throw new Uds3InputError('weights', 'the weights of the requested search types must not all be 0');
  for (const t of SEARCH_TYPES) weights[t] = types.includes(t) ? weights[t] / total : 0;

  const fusion = body.fusion ?? 'weighted';
  if (fusion !== 'weighted' && fusion !== 'rrf') throw new Uds3InputError('fusion', 'must be "weighted" or "rrf"');

  const graphHops = body.graph_hops ?? 3;
  if (typeof graphHops !== 'number' || !Number.isInteger(graphHops) || graphHops < 1 || graphHops > 5) {
    throw new Uds3InputError('graph_hops', 'must be an integer between 1 and 5');
  }
  if (body.export !== undefined && typeof body.export !== 'boolean') throw new Uds3InputError('export', 'must be a boolean');

  return { queryText: q.trim(), topK, filter, types, weights, fusion, graphHops };
}
