import { readFile, writeFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

/**
 * ESM + CJS + .d.ts/.d.cts for both entries, sharing one core chunk per format (one
 * queue, one default tracker). uuid is bundled: its v7 is ~1 kB and the package is
 * ESM-only, which `require` of the CJS build could not load on every Node. React and
 * tRPC stay peers.
 */
export default defineConfig({
  // client is an entry of its own so that apps which never call createUsageClient do not
  // bundle @trpc/client (whose modules are not marked side-effect free).
  entry: { index: 'src/index.ts', react: 'src/react.tsx', client: 'src/client.ts' },
  format: ['esm', 'cjs'],
  target: 'es2020',
  platform: 'neutral',
  dts: true,
  sourcemap: true,
  treeshake: true,
  splitting: true,
  clean: true,
  noExternal: ['uuid'],
  external: ['react', 'react/jsx-runtime', '@trpc/client', '@trpc/server'],
  outDir: 'dist',
  // The components and hooks run on the client only; the Next.js app router reads this.
  onSuccess: async () => {
    for (const file of ['dist/react.js', 'dist/react.cjs']) {
      const code = await readFile(file, 'utf8');
      if (code.startsWith("'use client'")) continue;
      await writeFile(file, `'use client';\n${code}`);
      // One line more at the top: shift the source map by one generated line.
      const map = JSON.parse(await readFile(`${file}.map`, 'utf8')) as { mappings: string };
      map.mappings = `;${map.mappings}`;
      await writeFile(`${file}.map`, JSON.stringify(map));
    }
  },
});
