/**
 * Client-supplied paths (config_path, dataset) are resolved inside CLARA_DATA_DIR and never outside it,
 * also not through a symlink that points out of it.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';

export class PathError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field} ${message}`);
  }
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' ? false : !rel.startsWith('..') && !isAbsolute(rel);
}

/** Absolute path of `rel` inside `dataDir`; throws PathError naming `field`. */
export function resolveInsideDataDir(dataDir: string, rel: string, field: string, options: { mustExist: boolean; extensions?: string[] }): string {
  if (rel.includes('\0')) throw new PathError(field, 'contains a NUL byte');
  if (isAbsolute(rel) || rel.split(/[\\/]/).includes('..')) throw new PathError(field, 'must be a relative path inside the data directory');
  const root = resolve(dataDir);
  const full = resolve(root, rel);
  if (!inside(root, full)) throw new PathError(field, 'must be a relative path inside the data directory');
  if (options.extensions && !options.extensions.some((e) => full.toLowerCase().endsWith(e))) {
    throw new PathError(field, `must end with ${options.extensions.join(' or ')}`);
  }
  if (!existsSync(full)) {
    if (options.mustExist) throw new PathError(field, `file not found in the data directory: ${rel}`);
    return full;
  }
  const real = realpathSync(full);
  if (!inside(realpathSync(root), real)) throw new PathError(field, 'points outside the data directory');
  if (!statSync(real).isFile()) throw new PathError(field, `is not a file: ${rel}`);
  return real;
}

/** A dataset reference is a .jsonl path or a dataset version id. */
export function isDatasetVersionId(ref: string): boolean {
  return !ref.toLowerCase().endsWith('.jsonl') && /^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/.test(ref);
}
