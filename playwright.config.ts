import os from 'node:os';
import path from 'node:path';
import { defineConfig, devices } from '@playwright/test';

/**
 * End-to-end journeys in real Chromium against the real server (`server/main.ts` with
 * its embedded Postgres), started fresh for every run on its own data directory.
 */
const PORT = Number(process.env.E2E_PORT ?? 3917);
const BASE_URL = `http://127.0.0.1:${PORT}`;

// The config is evaluated again in every worker; the environment carries the runner's
// choice of data directory to them instead of each computing its own.
process.env.E2E_DATA_DIR ??= path.join(os.tmpdir(), `staryer-e2e-${Date.now()}-${process.pid}`);
// A platform key, so the Connect journey of the Billing page runs (no Stripe call is made:
// nothing is linked to Stripe in the e2e data).
process.env.STRIPE_SECRET_KEY ??= 'sk_test_e2eplatformkey';

export default defineConfig({
  testDir: 'e2e',
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  reporter: 'list',
  use: {
    baseURL: BASE_URL,
    headless: true,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
    },
  },
  projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'] } }],
  webServer: {
    // Builds the dashboard, then runs server/main.ts; removes the data directory when stopped.
    command: 'npx tsx e2e/serve.ts',
    url: `${BASE_URL}/api/health`,
    reuseExistingServer: false,
    timeout: 180_000,
    // SIGTERM lets the server stop its embedded Postgres; a SIGKILL would leave it running.
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      PORT: String(PORT),
      HOST: '127.0.0.1',
      DATA_DIR: process.env.E2E_DATA_DIR,
      LOG_LEVEL: 'warn',
      // Small enough that the rate-limit spec reaches it in a few attempts.
      AUTH_RATE_LIMIT_PER_EMAIL: '5',
      // Every journey signs a creator up from 127.0.0.1: the default 30 per 15 minutes per
      // address would refuse the suite's later journeys (the limit per email is what is tested).
      AUTH_RATE_LIMIT_PER_IP: '1000',
    },
  },
});
