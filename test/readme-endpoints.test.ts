import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REST_ROUTES } from '../server/http/rest.js';

/**
 * The README shows a curl command for every route of the HTTP API (issue 4: "curl for every
 * endpoint"), with the route's method: a route added without one fails here, naming it.
 */
const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** Every curl command of the README's shell blocks, continuation lines joined: its method and path. */
function curlCommands(): Array<{ method: string; path: string }> {
  const blocks = [...readme.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const commands = blocks.flatMap((block) => block.replace(/\\\n/g, ' ').split('\n')).filter((line) => /^curl /.test(line.trim()));
  return commands.flatMap((command) => {
    const target = /localhost:3000(\/[^\s'"?]*)/.exec(command)?.[1];
    if (!target) return [];
    const method = /-X (\w+)/.exec(command)?.[1] ?? (/ -d /.test(command) ? 'POST' : 'GET');
    return [{ method, path: target }];
  });
}

const pattern = (route: string) => new RegExp(`^${route.replace(/:[a-z_]+/g, '[^/]+')}$`);

describe('README: a curl example for every endpoint', () => {
  const commands = curlCommands();

  it('finds the examples it reads (the reader works)', () => {
    expect(commands).toContainEqual({ method: 'POST', path: '/api/usage/track' });
    expect(commands).toContainEqual({ method: 'DELETE', path: '/api/usage/meters/<id>' });
    expect(commands.length).toBeGreaterThan(40);
  });

  it.each(REST_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', (_name, route) => {
    const matching = commands.filter((c) => c.method === route.method && pattern(route.path).test(c.path));
    expect(matching, `no curl example of ${route.method} ${route.path} in README.md`).not.toEqual([]);
  });
});
