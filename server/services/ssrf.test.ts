import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress, pinnedLookup, safePost, UnsafeUrlError, vetUrl, type HostResolver } from './ssrf.js';

describe('classifyAddress', () => {
  const cases: Array<[string, ReturnType<typeof classifyAddress>]> = [
    // IPv4 public
    ['8.8.8.8', null],
    ['1.1.1.1', null],
    ['93.184.215.14', null],
    ['172.15.255.255', null],
    ['172.32.0.0', null],
    ['100.63.255.255', null],
    ['100.128.0.0', null],
    ['169.253.255.255', null],
    ['192.167.255.255', null],
    ['223.255.255.255', null],
    ['11.0.0.0', null],
    ['126.255.255.255', null],
    ['128.0.0.1', null],
    ['198.17.255.255', null],
    ['198.20.0.0', null],
    // IPv4 blocked
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['169.254.169.254', 'link_local'],
    ['169.254.0.0', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    // IPv6 public
    ['2606:4700:4700::1111', null],
    ['2001:4860:4860::8888', null],
    ['2a00:1450:4001:81b::200e', null],
    ['64:ff9b::808:808', null], // NAT64 of 8.8.8.8
    ['2002:808:808::1', null], // 6to4 of 8.8.8.8
    ['[2606:4700:4700::1111]', null],
    // IPv6 blocked
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'private'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf:ffff::1', 'link_local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['ff05::1:3', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['100::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['64:ff9b:1::1', 'private'],
    // IPv4-mapped and other IPv4-embedding forms
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'link_local'], // 169.254.169.254
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:100.64.0.1', 'cgnat'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:224.0.0.1', 'multicast'],
    ['::ffff:8.8.8.8', null],
    ['[::ffff:192.168.1.1]', 'private'],
    ['::127.0.0.1', 'reserved'], // IPv4-compatible (deprecated)
    ['::ffff:0:127.0.0.1', 'reserved'], // IPv4-translated
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:7f00:1::1', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:a9fe:a9fe::', 'link_local'],
    // not an address at all
    ['localhost', 'reserved'],
    ['', 'reserved'],
    ['127.1', 'reserved'],
    ['0x7f.0.0.1', 'reserved'],
    ['2130706433', 'reserved'],
    ['1.2.3.4.5', 'reserved'],
    [':::1', 'reserved'],
  ];
  it.each(cases)('%s → %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

const resolverOf =
  (table: Record<string, string[]>): HostResolver =>
  async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('vetUrl', () => {
  const resolve = resolverOf({
    'public.test': ['93.184.215.14', '2606:2800:220:1::1'],
    'mixed.test': ['93.184.215.14', '10.1.2.3'],
    'metadata.test': ['169.254.169.254'],
    'mapped.test': ['::ffff:127.0.0.1'],
    'empty.test': [],
  });
  const strict = { allowPrivate: false, resolve };

  it('accepts a host whose every address is public, and returns them', async () => {
    expect(await vetUrl(new URL('https://public.test/hook'), strict)).toEqual([
      { address: '93.184.215.14', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
  });

  it('refuses a host with any non-public address', async () => {
    await expect(vetUrl(new URL('https://mixed.test/'), strict)).rejects.toMatchObject({ reason: 'blocked_address', address: '10.1.2.3', kind: 'private' });
    await expect(vetUrl(new URL('https://metadata.test/'), strict)).rejects.toMatchObject({ reason: 'blocked_address', address: '169.254.169.254', kind: 'link_local' });
    await expect(vetUrl(new URL('https://mapped.test/'), strict)).rejects.toMatchObject({ kind: 'loopback' });
  });

  it('refuses literal private hosts in every spelling the URL parser normalises', async () => {
    for (const url of [
      'http://127.0.0.1/',
      'http://127.1/',
      'http://0x7f000001/',
      'http://2130706433/',
      'http://0177.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[0:0:0:0:0:ffff:a9fe:a9fe]/',
      'http://10.0.0.1:8080/x',
      'http://0.0.0.0/',
      'http://[fd00::1]/',
    ]) {
      await expect(vetUrl(new URL(url), strict), url).rejects.toBeInstanceOf(UnsafeUrlError);
    }
  });

  it('a name resolving to an internal address is refused without telling the address (an admin key could map the server’s DNS and hosts file)', async () => {
    const internal: HostResolver = async () => [{ address: '10.20.30.40', family: 4 }];
    const refused = await vetUrl(new URL('http://billing-db.corp/'), { allowPrivate: false, resolve: internal }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnsafeUrlError);
    expect((refused as UnsafeUrlError).message).toBe('host "billing-db.corp" resolves to an address that is not public; webhooks go to public addresses only');
    expect((refused as UnsafeUrlError).message).not.toContain('10.20');
  });

  it('accepts a public literal without resolving it', async () => {
    const never: HostResolver = async () => {
      throw new Error('should not resolve');
    };
    expect(await vetUrl(new URL('http://93.184.215.14:8443/'), { allowPrivate: false, resolve: never })).toEqual([{ address: '93.184.215.14', family: 4 }]);
    expect(await vetUrl(new URL('http://[2606:4700::1]/'), { allowPrivate: false, resolve: never })).toEqual([{ address: '2606:4700::1', family: 6 }]);
  });

  it('reports names that do not resolve', async () => {
    await expect(vetUrl(new URL('https://nowhere.test/'), strict)).rejects.toMatchObject({ reason: 'unresolvable', message: expect.stringContaining('ENOTFOUND') });
    await expect(vetUrl(new URL('https://empty.test/'), strict)).rejects.toMatchObject({ reason: 'unresolvable' });
  });

  it('refuses other schemes', async () => {
    await expect(vetUrl(new URL('ftp://public.test/'), strict)).rejects.toMatchObject({ reason: 'invalid' });
  });

  it('allows private addresses when told to', async () => {
    expect(await vetUrl(new URL('http://127.0.0.1:9/'), { allowPrivate: true, resolve })).toEqual([{ address: '127.0.0.1', family: 4 }]);
    expect(await vetUrl(new URL('http://mixed.test/'), { allowPrivate: true, resolve })).toHaveLength(2);
  });
});

describe('pinnedLookup', () => {
  it('answers the pinned address for any name, in both callback shapes', () => {
    const lookup = pinnedLookup([{ address: '93.184.215.14', family: 4 }]);
    const single: unknown[] = [];
    lookup('evil.test', {}, (...args: unknown[]) => single.push(...args));
    expect(single).toEqual([null, '93.184.215.14', 4]);
    const all: unknown[] = [];
    lookup('evil.test', { all: true }, (...args: unknown[]) => all.push(...args));
    expect(all).toEqual([null, [{ address: '93.184.215.14', family: 4 }]]);
  });
});

describe('safePost', () => {
  let server: http.Server;
  let port: number;
  const seen: Array<{ host?: string; body: string; headers: http.IncomingHttpHeaders }> = [];
  let answer: { status: number; body: string; delayMs?: number; headers?: Record<string, string> } = { status: 200, body: 'ok' };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ host: req.headers.host, body, headers: req.headers });
        setTimeout(() => {
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        }, answer.delayMs ?? 0);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const headers = { 'content-type': 'application/json' };

  it('connects to the vetted address, never asking DNS again (a rebinding name cannot move it)', async () => {
    let calls = 0;
    // First answer vetted; a rebinding server would answer differently the second time.
    const rebinding: HostResolver = async () => (calls++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '10.9.9.9', family: 4 }]);
    answer = { status: 204, body: '' };
    const result = await safePost(new URL(`http://hooks.rebind.invalid:${port}/in?x=1`), '{"a":1}', { allowPrivate: true, resolve: rebinding, headers, timeoutMs: 2000 });
    expect(result).toMatchObject({ statusCode: 204, error: null, responseSnippet: null });
    expect(calls).toBe(1);
    expect(seen.at(-1)).toMatchObject({ host: `hooks.rebind.invalid:${port}`, body: '{"a":1}' });
    expect(seen.at(-1)!.headers['content-length']).toBe('7');
  });

  it('refuses private targets without connecting when private addresses are not allowed', async () => {
    const before = seen.length;
    const result = await safePost(new URL(`http://127.0.0.1:${port}/`), '{}', { allowPrivate: false, headers, timeoutMs: 2000 });
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
    expect(seen.length).toBe(before);
  });

  it('keeps a snippet of at most 500 characters and reports non-2xx answers as they are', async () => {
    answer = { status: 500, body: 'x'.repeat(5000) };
    const result = await safePost(new URL(`http://127.0.0.1:${port}/`), '{}', { allowPrivate: true, headers, timeoutMs: 2000 });
    expect(result.statusCode).toBe(500);
    expect(result.responseSnippet).toHaveLength(500);
    expect(result.error).toBeNull();
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('does not follow redirects', async () => {
    answer = { status: 302, body: '', headers: { location: 'http://169.254.169.254/latest/meta-data' } };
    const before = seen.length;
    const result = await safePost(new URL(`http://127.0.0.1:${port}/`), '{}', { allowPrivate: true, headers, timeoutMs: 2000 });
    expect(result.statusCode).toBe(302);
    expect(result.error).toContain('redirect not followed');
    expect(seen.length).toBe(before + 1);
  });

  it('times out', async () => {
    answer = { status: 200, body: 'late', delayMs: 1000 };
    const result = await safePost(new URL(`http://127.0.0.1:${port}/`), '{}', { allowPrivate: true, headers, timeoutMs: 150 });
    expect(result).toMatchObject({ statusCode: null, error: 'timed out after 150 ms' });
  });

  it('reports a closed port as an error, not a throw', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const result = await safePost(new URL(`http://127.0.0.1:${closedPort}/`), '{}', { allowPrivate: true, headers, timeoutMs: 2000 });
    expect(result.statusCode).toBeNull();
    expect(result.error).toContain('ECONNREFUSED');
  });
});
