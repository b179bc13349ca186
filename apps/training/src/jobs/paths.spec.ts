import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PathError, isDatasetVersionId, resolveInsideDataDir } from './paths.js';

const root = mkdtempSync(join(tmpdir(), 'clara-paths-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'data', 'datasets'), { recursive: true });
writeFileSync(join(root, 'data', 'datasets', 'a.jsonl'), '{}\n');
writeFileSync(join(root, 'secret.jsonl'), '{}\n');
symlinkSync(join(root, 'secret.jsonl'), join(root, 'data', 'datasets', 'link.jsonl'));
const dataDir = join(root, 'data');
const opts = { mustExist: true, extensions: ['.jsonl'] };

describe('resolveInsideDataDir', () => {
  it('resolves a file inside the data directory', () => {
    expect(resolveInsideDataDir(dataDir, 'datasets/a.jsonl', 'dataset', opts)).toBe(join(dataDir, 'datasets', 'a.jsonl'));
  });
  it.each(['../secret.jsonl', 'datasets/../../secret.jsonl', '/etc/passwd.jsonl', 'datasets\\..\\..\\x.jsonl'])('refuses %s', (p) => {
    expect(() => resolveInsideDataDir(dataDir, p, 'dataset', opts)).toThrow(PathError);
    expect(() => resolveInsideDataDir(dataDir, p, 'dataset', opts)).toThrow(/^dataset /);
  });
  it('refuses a symlink that leads outside', () => {
    expect(() => resolveInsideDataDir(dataDir, 'datasets/link.jsonl', 'dataset', opts)).toThrow('points outside');
  });
  it('names missing files and wrong extensions', () => {
    expect(() => resolveInsideDataDir(dataDir, 'datasets/none.jsonl', 'dataset', opts)).toThrow('file not found');
    expect(() => resolveInsideDataDir(dataDir, 'datasets/a.txt', 'dataset', opts)).toThrow('must end with .jsonl');
  });
  it('tells dataset version ids from paths', () => {
    expect(isDatasetVersionId('dsv_01HXYZ')).toBe(true);
    expect(isDatasetVersionId('3f1c2a7e-1111-2222-3333-444455556666')).toBe(true);
    expect(isDatasetVersionId('datasets/a.jsonl')).toBe(false);
    expect(isDatasetVersionId('a.jsonl')).toBe(false);
  });
});
