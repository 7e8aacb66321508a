// ESLint for the lab extension and its browser tests (TypeScript). Formatting is
// prettier's job (`jlpm lint` runs both).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      'labextension/lib/**',
      'python/**',
      'ui-tests/test-results/**',
      'ui-tests/playwright-report/**',
      'docs/**',
      '.venv/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.mts'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      curly: ['error', 'all'],
      eqeqeq: ['error', 'smart'],
      'prefer-const': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
      // A prompt to ask whether a file has two jobs, not a target: a warning.
      'max-lines': ['warn', { max: 400, skipBlankLines: true, skipComments: true }]
    }
  }
);
