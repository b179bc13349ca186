/**
 * Parsing and validation of ingestion input: a JSON array, JSONL (one document a line; errors name the line)
 * or uploaded text/markdown files (title from the first Markdown heading or the file name).
 */
import { Uds3InputError } from '../errors.js';
import type { ChatMessage, DocumentInput } from '../model.js';

export const MAX_DOCUMENT_CHARS = 2_000_000;
const FIELDS = new Set(['id', 'title', 'content', 'domain', 'document_type', 'source', 'language', 'metadata', 'messages', 'instruction', 'input', 'output']);
const ROLES = new Set(['system', 'user', 'assistant']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates one document; `at` names it in errors (e.g. "documents[3]" or "line 7"). */
export function validateDocument(raw: unknown, at: string): DocumentInput {
  if (!isObject(raw)) throw new Uds3InputError(at, 'must be a JSON object');
  for (const key of Object.keys(raw)) if (!FIELDS.has(key)) throw new Uds3InputError(`${at}.${key}`, 'unknown field');
  const str = (key: string, opts: { required?: boolean; max?: number } = {}) => {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (opts.required) throw new Uds3InputError(`${at}.${key}`, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') throw new Uds3InputError(`${at}.${key}`, 'must be a string');
    if (opts.max && v.length > opts.max) throw new Uds3InputError(`${at}.${key}`, `must be at most ${opts.max} characters`);
    return v;
  };
  const id = str('id', { max: 200 });
  if (id !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/.test(id)) {
    throw new Uds3InputError(`${at}.id`, 'may contain letters, digits and . _ : @ - only');
  }
  let messages: ChatMessage[] | undefined;
  if (raw.messages !== undefined) {
    if (!Array.isArray(raw.messages) || raw.messages.length === 0) throw new Uds3InputError(`${at}.messages`, 'must be a non-empty array');
    messages = raw.messages.map((m, i) => {
      if (!isObject(m) || !ROLES.has(m.role as string) || typeof m.content !== 'string') {
        throw new Uds3InputError(`${at}.messages[${i}]`, 'must be { role: system|user|assistant, content: string }');
      }
      return { role: m.role as ChatMessage['role'], content: m.content };
    });
    if (!messages.some((m) => m.role === 'assistant')) throw new Uds3InputError(`${at}.messages`, 'needs an assistant message');
  }
  const instruction = str('instruction', { max: MAX_DOCUMENT_CHARS });
  const output = str('output', { max: MAX_DOCUMENT_CHARS });
  if ((instruction === undefined) !== (output === undefined)) {
    throw new Uds3InputError(`${at}.${instruction === undefined ? 'instruction' : 'output'}`, 'instruction and output come together');
  }
  const pairText = messages
    ? messages.map((m) => `${m.role}: ${m.content}`).join('\n\n')
    : instruction !== undefined
      ? [instruction, str('input'), output].filter(Boolean).join('\n\n')
      : undefined;
  let content = str('content', { max: MAX_DOCUMENT_CHARS, required: pairText === undefined });
  if (content === undefined || content.trim() === '') content = pairText;
  if (!content || content.trim() === '') throw new Uds3InputError(`${at}.content`, 'must not be empty');
  const title = str('title', { max: 1000, required: pairText === undefined }) ?? (content.split('\n')[0] ?? '').slice(0, 120);
  if (title.trim() === '') throw new Uds3InputError(`${at}.title`, 'must not be empty');
  const metadata = raw.metadata;
  if (metadata !== undefined && !isObject(metadata)) throw new Uds3InputError(`${at}.metadata`, 'must be an object');
  const label = (key: string) => {
    const v = str(key, { max: 100 });
    if (v !== undefined && !/^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u.test(v)) throw new Uds3InputError(`${at}.${key}`, 'must be a short label (letters, digits, space . _ -)');
    return v;
  };
  return {
    id,
    title,
    content,
    domain: label('domain'),
    document_type: label('document_type'),
    source: str('source', { max: 1000 }),
    language: label('language'),
    metadata: (metadata as Record<string, unknown>) ?? {},
    messages,
    instruction,
    input: str('input', { max: MAX_DOCUMENT_CHARS }),
    output,
  };
}

export function parseJsonDocuments(body: unknown): DocumentInput[] {
  const list = isObject(body) && Array.isArray(body.documents) ? body.documents : body;
  const field = isObject(body) ? 'documents' : 'body';
  if (!Array.isArray(list)) throw new Uds3InputError(field, 'must be an array of documents (or { "documents": [...] })');
  if (list.length === 0) throw new Uds3InputError(field, 'must contain at least one document');
  return list.map((d, i) => validateDocument(d, `${field}[${i}]`));
}

export function parseJsonl(text: string): DocumentInput[] {
  const docs: DocumentInput[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Uds3InputError(`line ${i + 1}`, `is not valid JSON (${(err as Error).message})`);
    }
    docs.push(validateDocument(value, `line ${i + 1}`));
  });
  if (docs.length === 0) throw new Uds3InputError('body', 'contains no documents');
  return docs;
}

export interface UploadedFile {
  originalname: string;
  mimetype: string;
  buffer: Buffer;
}

const TEXT_FILE = /\.(md|markdown|txt|text)$/i;

/** Uploaded text/markdown files; `defaults` (domain, document_type, language, source) come from form fields. */
export function parseUploadedFiles(files: UploadedFile[], defaults: Partial<DocumentInput>): DocumentInput[] {
  if (!files.length) throw new Uds3InputError('files', 'no files uploaded');
  return files.map((f, i) => {
    if (!TEXT_FILE.test(f.originalname) && !/^text\//.test(f.mimetype)) {
      throw new Uds3InputError(`files[${i}]`, `${f.originalname}: only text and markdown files are accepted`);
    }
    const content = f.buffer.toString('utf8');
    if (content.includes('\u0000')) throw new Uds3InputError(`files[${i}]`, `${f.originalname}: is not a text file`);
    const heading = content.match(/^\s*#\s+(.+)$/m)?.[1]?.trim();
    const title = heading ?? f.originalname.replace(/\.[^.]+$/, '');
    return validateDocument(
      { ...defaults, title, content, source: defaults.source ?? f.originalname, metadata: { ...(defaults.metadata ?? {}), filename: f.originalname } },
      `files[${i}]`,
    );
  });
}
