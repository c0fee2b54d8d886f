import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Drift check: db/schema.ts must match the committed migrations. Generates into a
 * copy of db/migrations; any new migration there means someone changed the schema
 * without running `npm run db:generate`.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'staryer-db-check-'));
try {
  fs.cpSync('db/migrations', tmp, { recursive: true });
  const before = new Set(fs.readdirSync(tmp));
  execFileSync(
    'npx',
    ['drizzle-kit', 'generate', '--dialect', 'postgresql', '--schema', './db/schema.ts', '--out', tmp, '--casing', 'snake_case', '--name', 'drift'],
    { stdio: 'pipe' },
  );
  const added = fs.readdirSync(tmp).filter((f) => !before.has(f));
  if (added.length > 0) {
    console.error(`db/schema.ts has changes without a migration (${added.join(', ')}). Run \`npm run db:generate\` and commit the result.`);
    console.error(fs.readFileSync(path.join(tmp, added.find((f) => f.endsWith('.sql')) ?? added[0]!), 'utf8'));
    process.exit(1);
  }
  console.log('db:check: schema and migrations agree');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
