import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';

/** Re-checks at run time that a job's path is inside the data directory (the API checked it at create). */
export function resolveJobPath(dataDir: string, rel: string, field: string): string {
  const root = realpathSync(resolve(dataDir));
  const full = resolve(root, rel);
  const real = existsSync(full) ? realpathSync(full) : full;
  const r = relative(root, real);
  if (isAbsolute(rel) || r.startsWith('..') || isAbsolute(r)) throw new Error(`${field} ${rel} is outside the data directory`);
  if (!existsSync(real)) throw new Error(`${field} ${rel} does not exist in the data directory`);
  return real;
}
