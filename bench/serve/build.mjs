// Builds (SWC, in place, without deleting dist/) only the packages the serving bench imports.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const swc = join(root, 'node_modules', '.bin', 'swc');
for (const pkg of ['libs/contracts', 'libs/platform', 'libs/auth', 'libs/data-access', 'libs/engine', 'apps/serving']) {
  const r = spawnSync(swc, ['src', '-d', 'dist', '--strip-leading-paths', '--config-file', join(root, '.swcrc'), '--ignore', '**/*.spec.ts', '--quiet', '--copy-files'], { cwd: join(root, pkg), stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`build failed in ${pkg}`);
}
console.log('built serving bench packages');
