import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * Playwright's web server: build the dashboard, run the real server, and remove the
 * run's data directory once the server has stopped (set E2E_KEEP_DATA=1 to keep it).
 */
const dataDir = process.env.DATA_DIR;
if (!dataDir) throw new Error('DATA_DIR must be set');

execFileSync('npx', ['remix', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
console.log(`e2e server: data in ${dataDir}`);

// Journeys register webhook endpoints on local receivers (127.0.0.1), which production refuses.
const env = { ...process.env, ALLOW_PRIVATE_WEBHOOK_URLS: process.env.ALLOW_PRIVATE_WEBHOOK_URLS ?? 'true' };
const server = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { stdio: 'inherit', env });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => server.kill(signal));
}

server.on('exit', (code, signal) => {
  if (process.env.E2E_KEEP_DATA !== '1') rmSync(dataDir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 0 : 1));
});
