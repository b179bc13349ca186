// The child runs the built JS (dist/): `npm test` builds first; run `npm run build` before running this file alone.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = join(import.meta.dirname, '../dist/process-main.js');

/** A process whose service takes `startMs` to start and `closeMs` to close; it prints what happened. */
function serviceProcess(startMs: number, closeMs = 50, failStart = false) {
  if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
  const script = `
    import { runAsProcessMain } from ${JSON.stringify(pathToFileURL(built).href)};
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    runAsProcessMain('demo', async () => {
      console.log('starting');
      await sleep(${startMs});
      if (${failStart}) throw new Error('no port');
      const keepAlive = setInterval(() => {}, 1000);
      console.log('ready');
      return { async close() { await sleep(${closeMs}); clearInterval(keepAlive); console.log('closed'); } };
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const printed = async (line: string) => {
    while (!output.includes(line)) {
      if (child.exitCode !== null) throw new Error(`exited before "${line}":\n${output}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { child, exited, printed, output: () => output };
}

describe('runAsProcessMain', () => {
  it('SIGTERM the instant the service reports ready: it closes and exits 0', async () => {
    const p = serviceProcess(0);
    await p.printed('ready');
    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.output()).toContain('closed');
  });

  it('SIGTERM while still starting: the start finishes, then the service closes and exits 0', async () => {
    const p = serviceProcess(400);
    await p.printed('starting');
    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.output()).toMatch(/ready[\s\S]*closed/);
  });

  it('a second signal during a slow close forces the stop', async () => {
    const p = serviceProcess(0, 60_000);
    await p.printed('ready');
    p.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    p.child.kill('SIGINT');
    expect(await p.exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(p.output()).not.toContain('closed');
  });

  it('a start that fails exits 1 and says why', async () => {
    const p = serviceProcess(0, 0, true);
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(p.output()).toContain('demo failed to start: Error: no port');
  });
});
