/** Environment of the datasets service, read once at start (see .env.example). */
import { baseConfigSchema, listenPort, makeValidator, num, readConfig, str, url, type ReadConfigOptions } from '@clara/platform';

const oneOf = <T extends string>(values: readonly T[]) =>
  makeValidator<T>((input) => {
    if (!(values as readonly string[]).includes(input)) throw new Error(`must be one of ${values.join(', ')}`);
    return input as T;
  });

const jsonObject = makeValidator<Record<string, unknown>>((input) => {
  let value: unknown;
  try {
    value = JSON.parse(input);
  } catch {
    throw new Error('must be a JSON object');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('must be a JSON object');
  return value as Record<string, unknown>;
});

export const datasetsConfigSchema = {
  ...baseConfigSchema,
  CLARA_DATASETS_PORT: listenPort({ default: 45681, desc: 'HTTP port of the datasets service' }),
  CLARA_DATASETS_HOST: str({ default: '0.0.0.0', desc: 'interface to listen on' }),
  UDS3_DOCUMENT_STORE: oneOf(['postgres', 'couchdb'] as const)({ default: 'postgres', desc: 'where document bodies live' }),
  COUCHDB_URL: url({ default: undefined, desc: 'CouchDB URL (with credentials) when UDS3_DOCUMENT_STORE=couchdb' }),
  COUCHDB_DATABASE: str({ default: 'clara_documents' }),
  UDS3_VECTOR_STORE: oneOf(['pgvector', 'chroma'] as const)({ default: 'pgvector', desc: 'pgvector (embedded default) or chroma' }),
  CHROMA_URL: url({ default: undefined, desc: 'Chroma server URL when UDS3_VECTOR_STORE=chroma' }),
  CHROMA_COLLECTION: str({ default: 'clara_chunks' }),
  UDS3_GRAPH_STORE: oneOf(['postgres', 'neo4j'] as const)({ default: 'postgres', desc: 'postgres (tables + recursive CTE) or neo4j' }),
  NEO4J_URL: str({ default: undefined, desc: 'bolt:// or neo4j:// URL when UDS3_GRAPH_STORE=neo4j' }),
  NEO4J_USER: str({ default: undefined }),
  NEO4J_PASSWORD: str({ default: undefined }),
  UDS3_EMBEDDER: oneOf(['hashing', 'onnx'] as const)({ default: 'hashing', desc: 'hashing-embedder (no model) or an ONNX sentence encoder' }),
  UDS3_EMBEDDING_MODEL_DIR: str({ default: undefined, desc: 'directory with model.onnx + tokenizer.json when UDS3_EMBEDDER=onnx' }),
  UDS3_EMBEDDING_DIM: num({ default: 384, desc: 'dimension of the hashing embedder' }),
  UDS3_TOKENIZER_PATH: str({ default: undefined, desc: 'tokenizer.json for chunking and token counts; unset = word tokens' }),
  UDS3_KEYWORD_CACHE_MB: num({ default: 128, desc: 'memory for keyword-index postings kept between searches: whole segments, then per term (0 = read them every time)' }),
  UDS3_GRAPH_CACHE_MB: num({ default: 64, desc: 'memory for the chunk lists of graph entity nodes kept between searches (0 = read them every time)' }),
  UDS3_CHUNK_TOKENS: num({ default: 256 }),
  UDS3_CHUNK_OVERLAP: num({ default: 32 }),
  UDS3_QUALITY_RULES: jsonObject({ default: {}, desc: 'overrides of the quality rules, e.g. {"minTokens":50,"weights":{"pii":2}}' }),
  UDS3_MAX_UPLOAD_BYTES: num({ default: 20 * 1024 * 1024, desc: 'largest ingestion request body / uploaded file' }),
};

export type DatasetsConfig = ReturnType<typeof readDatasetsConfig>;

export function readDatasetsConfig(options?: ReadConfigOptions) {
  const config = readConfig(datasetsConfigSchema, options);
  const missing: [boolean, string][] = [
    [config.UDS3_DOCUMENT_STORE === 'couchdb' && !config.COUCHDB_URL, 'COUCHDB_URL'],
    [config.UDS3_VECTOR_STORE === 'chroma' && !config.CHROMA_URL, 'CHROMA_URL'],
    [config.UDS3_GRAPH_STORE === 'neo4j' && !config.NEO4J_URL, 'NEO4J_URL'],
    [config.UDS3_EMBEDDER === 'onnx' && !config.UDS3_EMBEDDING_MODEL_DIR, 'UDS3_EMBEDDING_MODEL_DIR'],
  ];
  for (const [bad, name] of missing) if (bad) throw new Error(`Invalid configuration: ${name}: is required by the selected store/embedder`);
  if (config.UDS3_CHUNK_OVERLAP < 0 || config.UDS3_CHUNK_OVERLAP >= config.UDS3_CHUNK_TOKENS) {
    throw new Error('Invalid configuration: UDS3_CHUNK_OVERLAP: must be >= 0 and below UDS3_CHUNK_TOKENS');
  }
  return config;
}
