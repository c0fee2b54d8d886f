import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { startFakeStripe } from '../test/fakes/stripe-server.js';

/**
 * Playwright's web server: build the dashboard, run the real server, and remove the
 * run's data directory once the server has stopped (set E2E_KEEP_DATA=1 to keep it).
 * Stripe is the local fake (test/fakes/stripe-server.ts), Connect's authorize page included,
 * unless the runner's environment names another STRIPE_API_BASE.
 */
const dataDir = process.env.DATA_DIR;
if (!dataDir) throw new Error('DATA_DIR must be set');

execFileSync('npx', ['remix', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
console.log(`e2e server: data in ${dataDir}`);

const stripe = process.env.STRIPE_API_BASE ? null : await startFakeStripe();
// Journeys register webhook endpoints on local receivers (127.0.0.1), which production refuses.
const env = {
  ...process.env,
  ALLOW_PRIVATE_WEBHOOK_URLS: process.env.ALLOW_PRIVATE_WEBHOOK_URLS ?? 'true',
  ...(stripe ? { STRIPE_API_BASE: stripe.url } : {}),
  STRIPE_CONNECT_CLIENT_ID: process.env.STRIPE_CONNECT_CLIENT_ID ?? 'ca_e2eplatformclient',
};
const server = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { stdio: 'inherit', env });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => server.kill(signal));
}

server.on('exit', (code, signal) => {
  if (process.env.E2E_KEEP_DATA !== '1') rmSync(dataDir, { recursive: true, force: true });
  void (stripe?.close() ?? Promise.resolve()).finally(() => process.exit(code ?? (signal ? 0 : 1)));
});
