/**
 * The module map of docs/architecture.md, enforced (`npm run lint` runs `depcruise` after ESLint).
 *
 * MAY_IMPORT is the map's "may import" column: what each folder of src/ may import besides itself. A production
 * file importing any other folder of src/ fails the lint, naming the rule; so does a runtime import cycle and
 * production code importing a test harness. Tests (`*.test.ts`, `testing/`, `test-support.ts`, bench helpers) may
 * import across modules: they exercise the real components together. Change the map here and in
 * docs/architecture.md together.
 */

/** @type {Record<string, string[]>} */
const MAY_IMPORT = {
  structs: ['lib'],
  errors: [],
  logging: [],
  lib: ['errors'],
  jobspec: ['structs', 'errors', 'lib'],
  scheduler: ['structs', 'errors', 'logging', 'lib'],
  state: ['structs', 'errors', 'logging', 'lib'],
  server: ['structs', 'state', 'scheduler', 'jobspec', 'discovery', 'mesh', 'errors', 'logging', 'lib'],
  client: ['structs', 'drivers', 'discovery', 'template', 'mesh', 'errors', 'logging', 'lib'],
  drivers: ['errors', 'logging', 'lib'],
  template: ['structs', 'errors', 'logging', 'lib'],
  discovery: ['structs', 'api', 'errors', 'logging', 'lib'],
  gateway: ['structs', 'api', 'errors', 'logging', 'lib'],
  acl: ['structs', 'state', 'jobspec', 'errors', 'logging', 'lib'],
  mesh: ['structs', 'errors', 'logging', 'lib'],
  http: ['server', 'jobspec', 'discovery', 'acl', 'structs', 'errors', 'logging', 'lib'],
  api: ['structs', 'errors', 'lib'],
  // Types only (the ui-imports-types-only rule): the browser loads app/ unbundled, so a runtime import would 404.
  ui: ['structs', 'api'],
  // `drover agent` and `drover gateway` start them in-process: see the cli-starts-agent-and-gateway rule.
  cli: ['api', 'jobspec', 'structs', 'errors', 'logging', 'lib', 'agent', 'gateway'],
  agent: ['*'],
};

/** Files that are tests or test support, not shipped behaviour. */
const TEST_CODE = '[.]test[.]ts$|/testing/|/test-support[.]ts$|/bench[.]ts$';

const boundaryRules = Object.entries(MAY_IMPORT)
  .filter(([, allowed]) => !allowed.includes('*'))
  .map(([mod, allowed]) => ({
    name: `${mod}-may-import`,
    comment: `src/${mod}/ may import only ${allowed.length > 0 ? allowed.join(', ') : 'nothing else of ours'} (docs/architecture.md, module map)`,
    severity: 'error',
    from: { path: `^src/${mod}/`, pathNot: TEST_CODE },
    to: { path: '^src/[^/]+/', pathNot: `^src/(${[mod, ...allowed].join('|')})/` },
  }));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...boundaryRules,
    {
      name: 'module-on-the-map',
      comment:
        'every folder of src/ has a row in the module map: add the new one to MAY_IMPORT and docs/architecture.md',
      severity: 'error',
      from: { path: `^src/(?!(${Object.keys(MAY_IMPORT).join('|')})/)[^/]+/`, pathNot: TEST_CODE },
      to: { path: '.' },
    },
    {
      name: 'cli-starts-agent-and-gateway',
      comment:
        'the CLI loads the agent and the gateway only to run them (`drover agent`, `drover gateway`: a dynamic import) and may share their types; everything else goes through src/api',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: TEST_CODE },
      to: { path: '^src/(agent|gateway)/', dependencyTypesNot: ['dynamic-import', 'type-only', 'type-import'] },
    },
    {
      name: 'ui-imports-types-only',
      comment:
        'the web UI reuses the model and API types (`import type`, erased by tsc); it loads no code of src/structs or src/api: build.mjs emits app/ alone',
      severity: 'error',
      from: { path: '^src/ui/', pathNot: TEST_CODE },
      to: { path: '^src/(structs|api)/', dependencyTypesNot: ['type-only', 'type-import'] },
    },
    {
      name: 'no-test-code-in-build',
      comment: 'production code must not import a test harness, fixtures or bench helpers',
      severity: 'error',
      from: { path: '^src/', pathNot: TEST_CODE },
      to: { path: TEST_CODE },
    },
    {
      name: 'no-runtime-cycle',
      comment: 'a runtime import cycle makes load order matter (type-only cycles are erased by the compiler)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'type-import'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Keep `import type` edges so the boundary rules see them too (they are still dependencies on a module).
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
    cache: false,
  },
};
