import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * The README's HTTP examples, run as written — with curl, in their order, against a fresh
 * account — so that the README stays true. Each `# → …` line after a command is what it
 * promises: the status when it names one, and every literal `"key":value` pair in it
 * (pairs with "…" are only shapes) must appear in the answer.
 */
const { url } = await useTestDatabase();
const testServer = useTestServer(url);

type Example = { command: string; promise: string };

/** The shell block under "### Examples", split into commands and the `# →` lines after each. */
function readmeExamples(): Example[] {
  const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const block = /### Examples\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README has no "### Examples" shell block');
  const examples: Example[] = [];
  let pending = '';
  let promising = false;
  for (const line of block.split('\n')) {
    if (pending === '' && /^\s*#/.test(line)) {
      // `# → …` starts the promise of the command before it; indented `#    …` lines continue it.
      const last = examples.at(-1);
      if (last && line.startsWith('# → ')) {
        last.promise += line.slice(4);
        promising = true;
      } else if (last && promising && /^#\s{2,}/.test(line)) last.promise += line.slice(1).trim();
      else promising = false;
      continue;
    }
    if (pending === '' && line.trim() === '') continue;
    pending += (pending ? '\n' : '') + line;
    const quotes = (pending.match(/'/g) ?? []).length;
    if (line.endsWith('\\') || quotes % 2 === 1) continue;
    examples.push({ command: pending, promise: '' });
    pending = '';
    promising = false;
  }
  return examples;
}

const run = promisify(execFile);

describe('README examples', () => {
  it('every HTTP example answers what the README says it does', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThanOrEqual(13);
    const ids: Record<string, string> = {};
    const host = new URL(server.url).host;
    for (const { command, promise } of examples) {
      expect(command).toMatch(/^curl /);
      const resource = /\/api\/usage\/(meters|keys)\/<id>/.exec(command)?.[1];
      const runnable = command
        .replaceAll('localhost:3000', host)
        .replace('<id>', resource ? ids[resource]! : '<id>')
        .replaceAll('<meter_id>', ids.meters ?? '<meter_id>');
      const { stdout } = await run('bash', ['-c', `curl() { command curl -sS -w '\\n%{http_code}' "$@"; }\n${runnable}`], {
        env: { ...process.env, STARYER_KEY: apiKey },
      });
      const status = Number(stdout.slice(stdout.lastIndexOf('\n') + 1));
      const body = stdout.slice(0, stdout.lastIndexOf('\n'));
      const promised = /^(\d{3}) /.exec(promise)?.[1];
      if (promised) expect(status, `${command}\n${body}`).toBe(Number(promised));
      else expect(status, `${command}\n${body}`).toBeLessThan(300);
      for (const [pair] of promise.matchAll(/"[a-z_]+":(?:"[^"…]*"|-?\d[\d.]*|true|false|null)(?=[,}\]])/g)) {
        expect(body, `${command}: ${pair}`).toContain(pair);
      }
      // The ids the later examples refer to as <id>.
      if (/-d '\{\s*"event_name": "api_calls"/.test(command)) ids.meters = (JSON.parse(body) as { id: string }).id;
      if (/\/api\/usage\/keys -H/.test(command) && command.includes('-d')) ids.keys = (JSON.parse(body) as { id: string }).id;
    }
    expect(Object.keys(ids).sort()).toEqual(['keys', 'meters']);
  }, 60_000);
});
