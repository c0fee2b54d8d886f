/**
 * Browser bundle sizes of @staryer/usage-sdk as an app would ship them: esbuild bundles a
 * tiny entry that imports from the built package (dist/), minified for browsers, then
 * gzip -9. Run after `npm run sdk:build`: `tsx sdk/scripts/size.ts`. BENCHMARKS.md keeps
 * the numbers.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const SDK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const CASES: Array<{ name: string; code: string }> = [
  {
    name: 'core: `initUsageTracking` + `trackUsage`',
    code: `import { initUsageTracking, trackUsage } from '@staryer/usage-sdk';
initUsageTracking({ creatorId: 'c', baseURL: 'https://usage.example.com', getToken: async () => 't' });
trackUsage({ userId: 'u', eventName: 'api_calls' });`,
  },
  {
    name: 'core + `useUsageTracking` (root entry)',
    code: `import { initUsageTracking, useUsageTracking } from '@staryer/usage-sdk';
initUsageTracking({ creatorId: 'c', baseURL: 'https://usage.example.com', getToken: async () => 't' });
export const f = useUsageTracking;`,
  },
  {
    name: '`/react`: provider, `useUsage`, `<UsageBar>`, `<LimitBanner>` (core included, React excluded)',
    code: `export { UsageTrackingProvider, useUsage, useUsageTracking, UsageBar, LimitBanner } from '@staryer/usage-sdk/react';`,
  },
  {
    name: 'typed client: `createUsageClient` (core and `@trpc/client` included)',
    code: `export { createUsageClient } from '@staryer/usage-sdk';`,
  },
];

export async function measure(): Promise<Array<{ name: string; minified: number; gzipped: number }>> {
  const rows = [];
  for (const { name, code } of CASES) {
    const result = await build({
      stdin: { contents: code, resolveDir: SDK, loader: 'ts' },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2020',
      write: false,
      external: ['react', 'react/jsx-runtime', 'react-dom'],
      alias: { '@staryer/usage-sdk/react': path.join(SDK, 'dist/react.js'), '@staryer/usage-sdk': path.join(SDK, 'dist/index.js') },
      logLevel: 'silent',
    });
    const bytes = result.outputFiles[0]!.contents;
    rows.push({ name, minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} kB`;
  console.log('| bundle | min | min+gzip |\n| --- | --- | --- |');
  for (const row of await measure()) console.log(`| ${row.name} | ${kb(row.minified)} | ${kb(row.gzipped)} |`);
}
