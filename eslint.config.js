// Lint is part of `npm test`: type-aware rules catch floating promises and unsafe `any` flows.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'demo/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      'no-console': 'error',
      // Destructuring a property away to keep the rest is the point, not an unused variable.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
    },
  },
  {
    // The CLI prints only through src/cli/output.ts, which renders control characters visibly.
    files: ['src/cli/output.ts', 'src/cli/**/*.test.ts', 'scripts/**', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['src/cli/**'],
    ignores: ['src/cli/output.ts', 'src/cli/**/*.test.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'stdout', message: 'print through src/cli/output.ts (say, printTable, printJson), which renders control characters visibly' },
        { object: 'process', property: 'stderr', message: 'print through src/cli/output.ts (sayError), which renders control characters visibly' },
      ],
    },
  },
);
