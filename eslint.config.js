import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

/**
 * Layer rules of STYLE.md, enforced: dependencies point from transports (app, routers,
 * http, jobs) to services to queries to schema — never back.
 */
const transportOnly = ['@trpc/server', '@trpc/server/*', '@remix-run/*'];

export default tseslint.config(
  { ignores: ['node_modules/', 'build/', 'sdk/dist/', 'public/build/', '.data/', 'scratch/', 'test-results/', 'playwright-report/', '.cache/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**', 'e2e/**', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['app/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/db/**', '../db/*', '../../db/*'], message: 'app/ reaches data through tRPC (app/lib/caller.server.ts), never db/.' },
            { group: ['**/jobs/**'], message: 'app/ never imports jobs/.' },
          ],
        },
      ],
    },
  },
  {
    // The published SDK carries no server code: the server's types only.
    files: ['sdk/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/server/**', '**/db/**', '**/jobs/**', '**/app/**'], allowTypeImports: true, message: 'The SDK may import server types only (import type).' }] },
      ],
    },
  },
  {
    files: ['server/services/**/*.ts'],
    ignores: ['server/services/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: transportOnly, message: 'Services hold the rules; transports (routers, http, app) translate them.' },
            { group: ['**/app/**', '**/routers/**', '**/http/**'], message: 'Services never import transports.' },
          ],
          paths: [{ name: 'stripe', message: 'Only server/services/stripe-client.ts constructs a Stripe client.' }],
        },
      ],
    },
  },
  {
    files: ['server/services/stripe-client.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['db/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: [...transportOnly, '**/server/services/**', '**/server/routers/**', '**/server/http/**', '**/app/**', '**/jobs/**'], message: 'db/ is data access only.' },
          ],
        },
      ],
    },
  },
  {
    files: ['server/routers/**/*.ts', 'server/http/**/*.ts', 'jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/db/queries/**'], message: 'Transports call services, not queries.' }] },
      ],
    },
  },
);
