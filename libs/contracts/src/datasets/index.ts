import { Subjects } from '../subjects.js';
/**
 * Datasets service (port 45681) contracts: the seed's search body and response, and the event payloads
 * published on Subjects.datasetDocumentsIngested / Subjects.datasetVersionCreated.
 */

export type DatasetSearchType = 'vector' | 'graph' | 'keyword';

/** POST /api/datasets/search (the seed's body; `fusion`, `graph_hops`, `export` are CLARA extensions). */
export interface DatasetSearchRequest {
  query_text: string;
  /** 1..1000, default 10. */
  top_k?: number;
  /** domain, document_type, source, language, document_id: a value or a list of values. */
  filters?: Partial<Record<'domain' | 'document_type' | 'source' | 'language' | 'document_id', string | string[]>>;
  min_quality_score?: number;
  /** Default all three. */
  search_types?: DatasetSearchType[];
  /** Non-negative; normalised over the requested types. Default vector 0.5, graph 0.2, keyword 0.3. */
  weights?: Partial<Record<DatasetSearchType, number>>;
  /** Default 'weighted' (scores normalised per signal); 'rrf' = reciprocal rank fusion. */
  fusion?: 'weighted' | 'rrf';
  /** 1..5, default 3. */
  graph_hops?: number;
  /** Write the results as JSONL under the data directory (dataset_path); default true. */
  export?: boolean;
}

export interface DatasetSearchResult {
  document_id: string;
  chunk_id: string;
  title: string;
  content: string;
  score: number;
  scores: Record<DatasetSearchType, number>;
  quality_score: number;
  domain: string;
  document_type: string;
}

export interface DatasetSearchStatistics {
  total_documents: number;
  avg_quality_score: number;
  avg_relevance_score: number;
  total_tokens: number;
  domains: Record<string, number>;
  document_types: Record<string, number>;
}

export interface DatasetSearchResponse {
  success: boolean;
  documents_found: number;
  statistics: DatasetSearchStatistics;
  dataset_path: string | null;
  message: string;
  results: DatasetSearchResult[];
}

/** Payload on Subjects.datasetDocumentsIngested. */
export interface DatasetDocumentsIngestedEvent {
  document_ids: string[];
  chunk_count: number;
  token_count: number;
  near_duplicates: number;
  ingested_by: string | null;
  at: string;
}

/** Payload on Subjects.datasetVersionCreated. */
export interface DatasetVersionCreatedEvent {
  version_id: string;
  dataset: string;
  number: number;
  manifest_hash: string;
  item_count: number;
  token_count: number;
  created_by: string | null;
  at: string;
}

/**
 * Request/reply (core NATS) answered by the datasets service, for services that need a dataset version:
 * export it (text | chat | alpaca JSONL under CLARA_DATA_DIR) and/or record that a training job used it.
 * Request: DatasetForwardRequest<DatasetExportRpcRequest>; reply: DatasetExportRpcReply.
 */
export const DatasetRpcSubjects = {
  exportVersion: Subjects.datasetExportRequest,
  recordLineage: Subjects.datasetLineageRequest,
} as const;

export interface DatasetExportRpcRequest {
  /** Version id, or "dataset@number". */
  version: string;
  format?: 'text' | 'chat' | 'alpaca';
  eval_fraction?: number;
  seed?: number;
  /** When given, lineage (version → job) is recorded in the same call. */
  training_job_id?: string;
}

export interface DatasetExportRpcReply {
  version_id: string;
  format: 'text' | 'chat' | 'alpaca';
  train_path: string;
  eval_path: string;
  train_count: number;
  eval_count: number;
}
