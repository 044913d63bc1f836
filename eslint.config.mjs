// ESLint (typescript-eslint's strict, type-aware rules) over src/, test/ and bench/; Prettier
// owns the formatting, so eslint-config-prettier turns off the rules that would fight it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first: each folder (or file) may import from itself and from the
 * ones it names, never from a higher layer nor a sibling. A folder not named here is not held
 * to a layer yet, but no named layer may import it. Adding a folder means placing it here.
 *   domain ← store/participants/quota/tls ← collection/sml/kbo ← operations ← http/admin/cli ← service/main
 */
const FOUNDATION = ['domain', 'log.ts', 'batching', 'store', 'config'];
const RESOURCES = [...FOUNDATION, 'participants', 'quota', 'tls'];
const USE_CASES = [...RESOURCES, 'collection', 'sml', 'kbo'];
const OPERATIONS = [...USE_CASES, 'operations'];
const LAYERS = {
  domain: [],
  'log.ts': ['domain'],
  batching: ['domain'],
  store: ['domain', 'log.ts', 'batching'],
  config: ['domain', 'log.ts'],
  participants: FOUNDATION,
  quota: FOUNDATION,
  tls: FOUNDATION,
  collection: RESOURCES,
  // Until the development SML and its wiring move to src/dev/ (issue #17 item 1).
  sml: [...RESOURCES, 'pki'],
  kbo: RESOURCES,
  operations: USE_CASES,
  http: OPERATIONS,
  // The operator console is the admin listener's browser face, mounted by the admin app.
  console: [...OPERATIONS, 'admin/operator-auth.ts'],
  admin: [...OPERATIONS, 'console'],
  cli: OPERATIONS,
};

const layerZones = Object.entries(LAYERS).map(([layer, below]) => ({
  target: `src/${layer}`,
  from: 'src',
  except: [layer, ...below].map((l) => `./${l}`),
  message: `src/${layer} may import only from ${below.length ? below.join(', ') : 'itself'} (layers: see eslint.config.mjs).`,
}));

/** The development deployment (dev PKI, dev SML, seeding) is loaded by main.ts, lazily, and by nothing else of src/. */
const developmentZone = {
  target: ['src/!(dev)/**', 'src/!(main).ts'],
  from: 'src/dev',
  message: 'production code never imports src/dev/ (only main.ts loads it, lazily, for a development deployment).',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'data/', 'certs/', 'scripts/', '*.config.js', '*.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Numbers and other primitives in template strings are intended throughout.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // In-memory stores implement Promise-returning interfaces without anything to await.
      '@typescript-eslint/require-await': 'off',
      // `req.socket as TLSSocket` is how Node's https server hands out its TLS sockets.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            ...layerZones,
            developmentZone,
            { target: 'src', from: ['test', 'bench'], message: 'the service never imports its tests or benchmarks.' },
            { target: 'test', from: 'bench', message: 'what tests and benchmarks share lives in test/support/.' },
          ],
        },
      ],
    },
  },
  {
    // main.ts loads the development deployment only with import(), never with a static import
    // (types excepted: they are gone at run time).
    files: ['src/main.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)dev(/|$)', allowTypeImports: true, message: 'load src/dev/ with import(), only for a development deployment' }] },
      ],
    },
  },
  {
    // Tests and the CLI read JSON whose shape they assert or print; `any` is honest there.
    files: ['test/**/*.ts', 'src/cli/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/restrict-plus-operands': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-misused-spread': 'off',
      // `service?.stop()` in teardown: the setup it tears down may have failed half way.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  prettier,
);
