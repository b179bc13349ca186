// Root flat ESLint config: typescript-eslint (syntax rules, no type information: fast on 2 cores) plus Nx
// module boundaries. Tags live in each package.json under "nx": { "tags": [...] }.
//   npm run lint            (eslint over apps libs tools)
import { createProjectGraphAsync } from '@nx/devkit';
import nx from '@nx/eslint-plugin';

// enforce-module-boundaries reads Nx's cached project graph and silently skips itself without one:
// compute (and cache) the graph first so the rule always runs, also for a bare `npx eslint`.
await createProjectGraphAsync({ exitOnError: true });

/** Which lib types each lib type may import (apps and tools are below). */
const libLayers = {
  'type:contracts': [], // the shared vocabulary depends on nothing of ours
  'type:platform': ['type:contracts'],
  'type:auth': ['type:contracts', 'type:platform'],
  'type:data-access': ['type:contracts', 'type:platform'],
  'type:engine': ['type:contracts', 'type:platform'],
  'type:uds3': ['type:contracts', 'type:platform', 'type:data-access', 'type:engine'],
};

function boundaries({ appsMayUseApps }) {
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      banTransitiveDependencies: false,
      // "static import of a lazy-loaded library" is about browser bundle splitting; these are Node services
      checkDynamicDependenciesExceptions: ['@clara/*'],
      depConstraints: [
        // apps depend on libs (scope:shared) only — never on another app (except e2e tests, below)
        { sourceTag: 'type:app', onlyDependOnLibsWithTags: appsMayUseApps ? ['scope:shared', 'type:app'] : ['scope:shared'] },
        // libs never depend on apps or tools
        { sourceTag: 'scope:shared', notDependOnLibsWithTags: ['type:app', 'type:tools'] },
        ...Object.entries(libLayers).map(([sourceTag, allowed]) => ({ sourceTag, onlyDependOnLibsWithTags: allowed })),
        // tools (start-embedded, scripts) may start apps and use libs
        { sourceTag: 'type:tools', onlyDependOnLibsWithTags: ['type:app', 'scope:shared'] },
      ],
    },
  ];
}

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', 'data/**', 'models/**', 'coverage/**', '**/*.d.ts'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries({ appsMayUseApps: false }),
      // numeric code indexes typed arrays constantly; `!` there is deliberate, not a smell worth 400 warnings
      '@typescript-eslint/no-non-null-assertion': 'off',
      // no-op close()/dispose() methods implement interfaces
      '@typescript-eslint/no-empty-function': 'off',
      '@typescript-eslint/no-unused-vars': ['warn', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // an app's e2e tests may boot the apps it talks to (e.g. training API + worker)
    files: ['apps/*/test/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries({ appsMayUseApps: true }) },
  },
  {
    // tests may use `any` for fixtures and fake contexts
    files: ['**/*.spec.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
];
