// Module-resolution hooks for pack.sh: every file a bench run loads (ESM and CommonJS) is appended to $TRACE_OUT.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) appendFileSync(process.env.TRACE_OUT, `${resolved.url}\n`);
  return resolved;
}

// loaded with --import (in this process and in children that inherit NODE_OPTIONS, such as the Chroma server):
// register this file's ESM hook, which then runs on a hooks thread of its own, and wrap CommonJS resolution
if (isMainThread) {
  register(import.meta.url);
  const Module = createRequire(import.meta.url)('node:module');
  const original = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const file = original.apply(this, args);
    if (file.startsWith('/')) appendFileSync(process.env.TRACE_OUT, `file://${file}\n`);
    return file;
  };
}
