// Builds only what the search benchmark imports (libs/uds3, libs/platform, libs/contracts) into their dist/.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
for (const pkg of ['libs/contracts', 'libs/platform', 'libs/uds3']) {
  const r = spawnSync(join(root, 'node_modules/.bin/swc'), ['src', '-d', 'dist', '--strip-leading-paths', '--config-file', join(root, '.swcrc'), '--ignore', '**/*.spec.ts', '--quiet'], { cwd: join(root, pkg), stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
