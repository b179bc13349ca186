/** Shapes shared by every UDS3 store, the ingestion pipeline, search and versions. */

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What a client sends to ingest one document (the seed's document fields). */
export interface DocumentInput {
  id?: string;
  title: string;
  content: string;
  domain?: string;
  document_type?: string;
  source?: string;
  language?: string;
  metadata?: Record<string, unknown>;
  /** Instruction/response records: either chat messages or an alpaca triple. */
  messages?: ChatMessage[];
  instruction?: string;
  input?: string;
  output?: string;
}

/** An instruction/response pair carried by a document, kept for chat/alpaca export. */
export interface InstructionPair {
  messages: ChatMessage[];
  /** Kept when the document came as an alpaca triple, so alpaca export is lossless. */
  alpaca?: { instruction: string; input: string; output: string };
}

export interface QualitySignals {
  length: { chars: number; tokens: number; score: number };
  language: { detected: string; confidence: number; score: number };
  repetition: { duplicate_line_ratio: number; repeated_ngram_ratio: number; boilerplate_ratio: number; score: number };
  near_duplicate: { duplicate_of: string | null; similarity: number; score: number };
  pii: { emails: number; phones: number; ibans: number; score: number };
  readability: { flesch: number; avg_sentence_words: number; score: number };
}

export interface QualityReport {
  score: number;
  signals: QualitySignals;
}

export interface StoredDocument {
  id: string;
  title: string;
  content: string;
  domain: string;
  document_type: string;
  source: string;
  language: string;
  metadata: Record<string, unknown>;
  content_hash: string;
  token_count: number;
  quality: QualityReport;
  pair: InstructionPair | null;
}

export interface Chunk {
  id: string;
  document_id: string;
  seq: number;
  content: string;
  token_count: number;
  content_hash: string;
}

/** Chunk plus the document fields the stores filter on. */
export interface IndexedChunk extends Chunk {
  title: string;
  domain: string;
  document_type: string;
  source: string;
  language: string;
  quality_score: number;
}

export const FILTER_FIELDS = ['domain', 'document_type', 'source', 'language', 'document_id'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

/** Normalised filter: every field is a list of accepted values (OR within a field, AND across fields). */
export type SearchFilter = Partial<Record<FilterField, string[]>> & { min_quality_score?: number };

export const SEARCH_TYPES = ['vector', 'graph', 'keyword'] as const;
export type SearchType = (typeof SEARCH_TYPES)[number];

export interface ScoredId {
  chunk_id: string;
  score: number;
}

export type GraphNodeKind = 'document' | 'chunk' | 'domain' | 'type' | 'entity' | 'law';
export interface GraphNode {
  id: string;
  kind: GraphNodeKind;
  label: string;
}
export interface GraphEdge {
  src: string;
  dst: string;
  kind: 'HAS_CHUNK' | 'IN_DOMAIN' | 'OF_TYPE' | 'MENTIONS' | 'CITES' | 'PART_OF';
}
