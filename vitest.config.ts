import { defineConfig } from 'vitest/config';
import swc from 'unplugin-swc';

// SWC (not esbuild) so NestJS gets decorator metadata; the `source` condition resolves @clara/* to src/.
export default defineConfig({
  plugins: [swc.vite({ swcrc: false, jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false }, target: 'es2022', keepClassNames: true }, module: { type: 'es6' } })],
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
  test: {
    include: ['{apps,libs,tools}/*/src/**/*.spec.ts', '{apps,libs,tools}/*/test/**/*.test.ts', 'tools/src/**/*.spec.ts', 'tools/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
