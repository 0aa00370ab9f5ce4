// ESLint flat config. TypeScript files are linted with typescript-eslint's type-checked rules
// (types from tsconfig.node.json + tsconfig.web.json through the project service); the renderer
// also gets the React hooks rules. The import-layer rule (no `electron` outside main/electron)
// is tools/check-layers.mjs, run next to ESLint by `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['out/**', 'dist/**', 'node_modules/**', 'renderer/public/**', '**/*.d.mts', 'test-results/**', 'playwright-report/**', '.venvs/**', 'release/**', '.tmp/**', 'bench/results/**'],
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Best-effort cleanup (kill a process that may be gone, remove a file) ignores its error.
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['**/*.{ts,tsx}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      // Off: log and terminal parsing (ANSI escapes, NUL/BEL in esphome output) matches control
      // characters on purpose.
      'no-control-regex': 'off',
      // Off: async functions without an await implement Promise-returning contracts (API handlers,
      // runner interfaces, test doubles); making them sync would change what throws vs rejects.
      '@typescript-eslint/require-await': 'off',
      // Best-effort cleanup (kill a process that may be gone, remove a file) ignores its error.
      'no-empty': ['error', { allowEmptyCatch: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Tests, e2e and benchmarks read JSON (wire frames, HTTP bodies, logs) into `any` to assert on
    // it, and Playwright fixtures must destructure `{}` for "no fixtures used".
    files: ['**/test/**/*.{ts,tsx}', '**/*.test.{ts,tsx}', 'test/**/*.ts', 'e2e/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      'no-empty-pattern': 'off',
      // ws delivers text frames as a Buffer here; `String(x)` in assertion messages is fine.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    files: ['renderer/src/**/*.{ts,tsx}'],
    extends: [reactHooks.configs.flat['recommended-latest']],
    rules: {
      // Off: store actions and callback props are declared with method syntax in their types but
      // are closures that never use `this` (zustand actions, `onClose(): void` props).
      '@typescript-eslint/unbound-method': 'off',
      // Off for now: these effects reset or load state when a prop or the backend changes; moving
      // them to render-time derivation or event handlers is a behaviour change, not a lint fix.
      'react-hooks/set-state-in-effect': 'off',
    },
  },
);
