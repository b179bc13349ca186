// Builds every workspace package (libs/*, apps/*, tools) from src/ to dist/ with SWC.
// SWC transpiles file by file, so packages can build in any order; `npm run typecheck` checks types.
import { readdirSync, existsSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packages = ['libs', 'apps']
  .flatMap((d) => readdirSync(join(root, d)).map((p) => join(root, d, p)))
  .concat([join(root, 'tools')])
  .filter((p) => existsSync(join(p, 'src')));
const swc = join(root, 'node_modules', '.bin', 'swc');

function build(pkg) {
  rmSync(join(pkg, 'dist'), { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    const child = spawn(swc, ['src', '-d', 'dist', '--strip-leading-paths', '--config-file', join(root, '.swcrc'),
      '--ignore', '**/*.spec.ts', '--quiet', '--copy-files'], { cwd: pkg, stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build failed in ${pkg}`))));
  });
}
await Promise.all(packages.map(build));
console.log(`built ${packages.length} packages`);
