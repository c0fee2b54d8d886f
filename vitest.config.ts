import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Separate from the Remix build: tests run server code directly under Node.
export default defineConfig({
  // The dashboard's own import paths (~/components/…), for tests of its modules.
  resolve: { alias: { '~': fileURLToPath(new URL('./app', import.meta.url)) } },
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'e2e/**', 'build/**', 'scratch/**', '.data/**'],
    globalSetup: ['test/harness/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
