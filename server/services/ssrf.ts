import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { withTimeout } from '../errors.js';

/**
 * Outbound requests to URLs creators give us (webhook endpoints) must not reach our own
 * network: loopback, private ranges, link-local (cloud metadata at 169.254.169.254), etc.
 * The host is resolved once, every address is vetted, and the connection is made to the
 * vetted address itself — a DNS answer that changes between check and connect (DNS
 * rebinding) cannot move it elsewhere.
 */

export const BLOCKED_ADDRESS_KINDS = ['unspecified', 'loopback', 'private', 'link_local', 'cgnat', 'multicast', 'broadcast', 'reserved'] as const;
export type BlockedAddressKind = (typeof BLOCKED_ADDRESS_KINDS)[number];

const KIND_LABELS = {
  unspecified: 'an unspecified',
  loopback: 'a loopback',
  private: 'a private',
  link_local: 'a link-local',
  cgnat: 'a carrier-grade NAT',
  multicast: 'a multicast',
  broadcast: 'a broadcast',
  reserved: 'a reserved',
} as const satisfies Record<BlockedAddressKind, string>;

type V4Range = { base: number; bits: number; kind: BlockedAddressKind };

const v4 = (dotted: string): number => {
  const parts = dotted.split('.').map(Number);
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
};

// Most specific first is not needed: the ranges do not overlap.
const V4_BLOCKED: V4Range[] = [
  { base: v4('0.0.0.0'), bits: 8, kind: 'unspecified' }, // "this network"; 0.0.0.0 reaches the local host on Linux
  { base: v4('10.0.0.0'), bits: 8, kind: 'private' },
  { base: v4('100.64.0.0'), bits: 10, kind: 'cgnat' },
  { base: v4('127.0.0.0'), bits: 8, kind: 'loopback' },
  { base: v4('169.254.0.0'), bits: 16, kind: 'link_local' },
  { base: v4('172.16.0.0'), bits: 12, kind: 'private' },
  { base: v4('192.0.0.0'), bits: 24, kind: 'reserved' }, // IETF protocol assignments
  { base: v4('192.0.2.0'), bits: 24, kind: 'reserved' }, // TEST-NET-1
  { base: v4('192.88.99.0'), bits: 24, kind: 'reserved' }, // 6to4 relay anycast (deprecated)
  { base: v4('192.168.0.0'), bits: 16, kind: 'private' },
  { base: v4('198.18.0.0'), bits: 15, kind: 'reserved' }, // benchmarking
  { base: v4('198.51.100.0'), bits: 24, kind: 'reserved' }, // TEST-NET-2
  { base: v4('203.0.113.0'), bits: 24, kind: 'reserved' }, // TEST-NET-3
  { base: v4('224.0.0.0'), bits: 4, kind: 'multicast' },
  { base: v4('255.255.255.255'), bits: 32, kind: 'broadcast' },
  { base: v4('240.0.0.0'), bits: 4, kind: 'reserved' },
];

const inV4 = (address: number, range: { base: number; bits: number }) =>
  range.bits === 0 || (address ^ range.base) >>> (32 - range.bits) === 0;

function classifyV4(address: number): BlockedAddressKind | null {
  for (const range of V4_BLOCKED) if (inV4(address, range)) return range.kind;
  return null;
}

/** Parses a dotted IPv4 address strictly (four decimal octets); null otherwise. */
function parseV4(text: string): number | null {
  if (isIP(text) !== 4) return null;
  return v4(text);
}

/** Parses an IPv6 address (with `::`, an embedded dotted IPv4 tail, an optional zone) into 8 groups. */
function parseV6(text: string): number[] | null {
  const withoutZone = text.split('%')[0]!;
  if (isIP(withoutZone) !== 6) return null;
  let head = withoutZone;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(head);
  if (dotted) {
    const value = parseV4(dotted[1]!);
    if (value === null) return null;
    tail.push(value >>> 16, value & 0xffff);
    head = head.slice(0, -dotted[1]!.length);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').filter((g) => g !== '').map((g) => parseInt(g, 16)) : []);
  const leftGroups = groups(left);
  const rightGroups = [...groups(right), ...tail];
  const missing = 8 - leftGroups.length - rightGroups.length;
  if (missing < 0 || (right === undefined && missing !== 0)) return null;
  return [...leftGroups, ...Array<number>(missing).fill(0), ...rightGroups];
}

const v4Of = (hi: number, lo: number) => ((hi << 16) >>> 0) + lo;

function classifyV6(g: number[]): BlockedAddressKind | null {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(8)) return 'unspecified';
  if (zeroTo(7) && g7 === 1) return 'loopback';
  // ::ffff:a.b.c.d — IPv4-mapped: the socket talks IPv4 to a.b.c.d.
  if (zeroTo(5) && g5 === 0xffff) return classifyV4(v4Of(g6, g7));
  // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address; the local-use prefix is private.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4(v4Of(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return 'private';
  // The rest of ::/8: IPv4-compatible (::a.b.c.d, deprecated), IPv4-translated (::ffff:0:a.b.c.d) …
  if (g0 >>> 8 === 0) return 'reserved';
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'reserved'; // discard-only
  // 6to4 (2002::/16) carries an IPv4 address in bits 16–47.
  if (g0 === 0x2002) return classifyV4(v4Of(g1, g2));
  if (g0 === 0x2001 && g1 < 0x200) return 'reserved'; // IETF protocol assignments, incl. Teredo
  if (g0 === 0x2001 && g1 === 0xdb8) return 'reserved'; // documentation
  if (g0 === 0x3fff && g1 < 0x1000) return 'reserved'; // 3fff::/20 documentation
  if ((g0 & 0xfe00) === 0xfc00) return 'private'; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return 'link_local';
  if ((g0 & 0xffc0) === 0xfec0) return 'private'; // site-local (deprecated)
  if (g0 >>> 8 === 0xff) return 'multicast';
  return null;
}

/**
 * What kind of non-public address `address` is (an IPv4 or IPv6 literal, brackets and
 * zone allowed), or null for a public one. Anything unparsable counts as `reserved`.
 */
export function classifyAddress(address: string): BlockedAddressKind | null {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const asV4 = parseV4(text);
  if (asV4 !== null) return classifyV4(asV4);
  const asV6 = parseV6(text);
  if (asV6 !== null) return classifyV6(asV6);
  return 'reserved';
}

export type ResolvedAddress = { address: string; family: 4 | 6 };
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: HostResolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** A URL we will not call, and why (safe to show the creator). */
export class UnsafeUrlError extends Error {
  constructor(
    message: string,
    readonly reason: 'blocked_address' | 'unresolvable' | 'invalid',
    readonly address?: string,
    readonly kind?: BlockedAddressKind,
  ) {
    super(message);
    this.name = 'UnsafeUrlError';
  }
}

export type VetOptions = {
  allowPrivate: boolean;
  resolve?: HostResolver;
  /** The longest the host's resolution may take (a name server that never answers): then 'unresolvable'. */
  resolveTimeoutMs?: number;
};

/** Names that are loopback by definition (RFC 6761), whatever a resolver says of them or whether it knows them. */
const isLoopbackName = (host: string) => {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
};

const resolveWithin = (resolve: HostResolver, host: string, timeoutMs: number | undefined): Promise<ResolvedAddress[]> =>
  timeoutMs === undefined ? resolve(host) : withTimeout(resolve(host), timeoutMs, () => Object.assign(new Error('timed out'), { code: `no answer within ${timeoutMs} ms` }));

const hostOf = (url: URL) => (url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname);

/**
 * Resolves the URL's host (every address) and refuses it when any address is not public,
 * unless `allowPrivate`. Returns the vetted addresses; connect to one of these, never to
 * the name again.
 */
export async function vetUrl(url: URL, options: VetOptions): Promise<ResolvedAddress[]> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UnsafeUrlError('must be an http or https URL', 'invalid');
  const host = hostOf(url);
  if (!host) throw new UnsafeUrlError('must have a host', 'invalid');
  let addresses: ResolvedAddress[];
  const literal = isIP(host);
  if (!options.allowPrivate && !literal && isLoopbackName(host)) {
    throw new UnsafeUrlError(`host "${host}" is ${KIND_LABELS.loopback} name; webhooks go to public addresses only`, 'blocked_address', undefined, 'loopback');
  }
  if (literal) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolveWithin(options.resolve ?? systemResolver, host, options.resolveTimeoutMs);
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new UnsafeUrlError(`host "${host}" could not be resolved${code ? ` (${code})` : ''}`, 'unresolvable');
    }
    if (addresses.length === 0) throw new UnsafeUrlError(`host "${host}" has no addresses`, 'unresolvable');
  }
  if (!options.allowPrivate) {
    for (const { address } of addresses) {
      const kind = classifyAddress(address);
      if (kind) {
        // A name's address is not told: the answer would map the server's own DNS and hosts file
        // for whoever holds an admin key (the address stays on the error, for the server's log).
        const message = literal ? `${host} is ${KIND_LABELS[kind]} address` : `host "${host}" resolves to an address that is not public`;
        throw new UnsafeUrlError(`${message}; webhooks go to public addresses only`, 'blocked_address', address, kind);
      }
    }
  }
  return addresses;
}

/**
 * A lookup that answers the vetted addresses whatever the name, for http(s).request: all of
 * them when Node asks for all (autoSelectFamily tries each in turn: a dual-stack host whose
 * IPv6 address does not answer here is reached over IPv4, a down A record is passed over),
 * else the first.
 */
export function pinnedLookup(targets: ResolvedAddress[]): LookupFunction {
  const [first] = targets;
  if (!first) throw new Error('pinnedLookup needs at least one vetted address');
  return (_hostname, options, callback) => {
    if (options.all) callback(null, targets.map(({ address, family }) => ({ address, family })));
    else callback(null, first.address, first.family);
  };
}

export type PostResult = {
  statusCode: number | null;
  latencyMs: number;
  /** The first characters of the response body (at most SNIPPET_LENGTH). */
  responseSnippet: string | null;
  error: string | null;
};

export const SNIPPET_LENGTH = 500;
/** Bytes of the response body read at most; the rest is not waited for. */
const MAX_BODY_BYTES = 8 * 1024;

export type SafePostOptions = VetOptions & { headers: Record<string, string>; timeoutMs: number };

/**
 * POSTs `body` to `url` after vetting it, connected to the vetted address (TLS still
 * checks the certificate against the host name). Redirects are not followed: a 3xx is
 * the answer. Never throws: every failure comes back as `error`.
 */
export async function safePost(url: URL, body: string, options: SafePostOptions): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.max(0, Math.round(performance.now() - started));
  // timeoutMs bounds the whole attempt, the host's resolution included.
  let targets: ResolvedAddress[];
  try {
    targets = await vetUrl(url, { ...options, resolveTimeoutMs: options.timeoutMs });
  } catch (error) {
    const message = error instanceof UnsafeUrlError ? `refused: ${error.message}` : `refused: ${(error as Error).message}`;
    return { statusCode: null, latencyMs: elapsed(), responseSnippet: null, error: message };
  }
  const remainingMs = Math.max(1, options.timeoutMs - (performance.now() - started));
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<PostResult>((resolve) => {
    let settled = false;
    /** Set once the status line is in: finishes with that status and the body read so far. */
    let answered: (() => void) | null = null;
    const finish = (result: Omit<PostResult, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, latencyMs: elapsed() });
    };
    const request = client.request(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: hostOf(url),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(body)) },
        // Node 20 tries each address of an `all` lookup in turn (autoSelectFamily, on by default).
        lookup: pinnedLookup(targets),
        // A fresh connection per attempt: no socket of another (earlier vetted) address is reused.
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const statusCode = response.statusCode ?? null;
          const redirect = statusCode !== null && statusCode >= 300 && statusCode < 400;
          finish({
            statusCode,
            responseSnippet: text ? text.slice(0, SNIPPET_LENGTH) : null,
            error: redirect ? `redirect not followed${response.headers.location ? ` (Location: ${String(response.headers.location).slice(0, 200)})` : ''}` : null,
          });
          response.destroy();
        };
        answered = done;
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_BODY_BYTES) done();
        });
        response.on('end', done);
        response.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      // A receiver that sent its status and is still streaming the body has answered (a
      // framework flushing headers before its handler is done): a 2xx is delivered. Counting
      // it as a timeout would send the message again and mark the endpoint failing.
      if (answered) answered();
      else finish({ statusCode: null, responseSnippet: null, error: `timed out after ${options.timeoutMs} ms` });
      request.destroy();
    }, remainingMs);
    request.on('error', (error: NodeJS.ErrnoException) => {
      finish({ statusCode: null, responseSnippet: null, error: describeNetworkError(error) });
    });
    request.end(body);
  });
}

function describeNetworkError(error: NodeJS.ErrnoException): string {
  const message = error.message || String(error);
  const text = error.code && !message.includes(error.code) ? `${error.code}: ${message}` : message;
  return text.slice(0, 1000);
}
