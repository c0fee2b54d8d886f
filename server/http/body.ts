import type { IncomingMessage } from 'node:http';
import contentType from 'content-type';
import { AppError } from '../errors.js';
import { refuseDuplicateKeys } from './json-keys.js';
import { findAlteredNumbers, restoreAlteredNumbers } from './json-numbers.js';

export const MAX_BODY_BYTES = 1024 * 1024;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a JSON request body: 415 for another content type or a charset other than UTF-8, 413 past the limit (without
 * reading the rest into memory), 400 when it does not parse, 422 naming a key written twice in
 * one object (server/http/json-keys.ts). Number literals keep the value written
 * (server/http/json-numbers.ts).
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  if (!isJsonContentType(req)) {
    const type = contentTypeOf(req);
    throw new AppError('unsupported_media_type', {
      code: 'unsupported_media_type',
      detail: `Send the body as application/json${type ? `, not ${type}` : ''}.`,
    });
  }
  requireUtf8Charset(req);
  const text = await readUtf8Body(req, limit);
  if (text.trim() === '') throw new AppError('bad_request', { code: 'malformed_json', detail: 'The request body is empty; send a JSON document.' });
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError('bad_request', { code: 'malformed_json', detail: `The request body is not valid JSON: ${(error as Error).message}` });
  }
  refuseDuplicateKeys(text, value);
  // JSON.parse reads every number as a double: 12345678.123456789 would be recorded as
  // 12345678.12345679. A literal it alters is put back as written (ADR 0009, 2026-11-27).
  const altered = findAlteredNumbers(text);
  return altered.length === 0 ? value : restoreAlteredNumbers(text, altered);
}

/**
 * A tRPC call's JSON body, read ahead of tRPC, which takes a body it is handed in `req.body`
 * (as text, or a value it serialises again). The REST routes' rules: 413 past the limit, 400
 * for bytes that are not UTF-8 (tRPC would read them as U+FFFD: another user_id), and a number
 * literal a double would change put back as written — serialised again, a `JsonNumberText` is
 * its decimal string; 422 for a key written twice in one object (server/http/json-keys.ts). A body that is not JSON is left as it came, for tRPC to refuse. `batch`:
 * the body holds one input per call (`?batch=1`: `{"0": …, "1": …}`).
 */
export async function readTrpcBody(req: IncomingMessage, options: { batch: boolean }): Promise<unknown> {
  requireUtf8Charset(req);
  const text = await readUtf8Body(req, MAX_BODY_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  refuseDuplicateKeys(text, value);
  const altered = findAlteredNumbers(text);
  if (altered.length === 0) return text;
  return restoreAlteredNumbers(text, altered, { inputs: options.batch ? 'members' : 'root' });
}

/**
 * 415 for a JSON body declared in another charset (`charset=latin1`): bodies are read as
 * UTF-8 (RFC 8259 §8.1), and bytes of another encoding would be refused as "not UTF-8" or,
 * worse, read as other characters. No charset, `utf-8` and `utf8` (any case) are taken, and
 * so are parameters that do not parse (a trailing `;`): they name no charset.
 */
function requireUtf8Charset(req: IncomingMessage): void {
  const header = req.headers['content-type'] ?? '';
  if (!header.includes(';')) return;
  let charset: string | undefined;
  try {
    charset = contentType.parse(header.replace(/[;\s]+$/, '')).parameters.charset?.toLowerCase();
  } catch {
    return; // parameters that do not parse declare no charset: the body is read as UTF-8, as before
  }
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8') return;
  throw new AppError('unsupported_media_type', {
    code: 'unsupported_media_type',
    detail: `Send the body as UTF-8 JSON: charset "${charset.slice(0, 40)}" is not accepted (JSON is UTF-8, RFC 8259).`,
  });
}

const contentTypeOf = (req: IncomingMessage) => (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();

export function isJsonContentType(req: IncomingMessage): boolean {
  const type = contentTypeOf(req);
  return type === 'application/json' || type.endsWith('+json');
}

/** The body as UTF-8 text: 413 past the limit (without reading the rest into memory), 400 for bytes that are not UTF-8. */
async function readUtf8Body(req: IncomingMessage, limit: number): Promise<string> {
  const bytes = await readRawBody(req, limit);
  try {
    // JSON is UTF-8 (RFC 8259); replacing bad bytes with U+FFFD would record, say, a
    // user_id other than the one sent, and merge distinct ones.
    return UTF8.decode(bytes);
  } catch {
    throw new AppError('bad_request', { code: 'malformed_json', detail: 'The request body is not valid UTF-8.' });
  }
}

export const tooLarge = (limit = MAX_BODY_BYTES) =>
  new AppError('payload_too_large', { code: 'payload_too_large', detail: `The request body is larger than ${limit} bytes.` });

/** The problem code of a body sent in a content coding; its answer carries `Accept-Encoding: identity`. */
export const CONTENT_CODING_REFUSED = 'unsupported_content_encoding';

/**
 * 415 for a body in a content coding (gzip, br…): bodies are read as sent, and a coded one
 * would be parsed as if it had none. RFC 9110 §15.5.16: the answer names the coding taken
 * (`Accept-Encoding: identity`, server/http/problem.ts).
 */
function requireIdentityCoding(req: IncomingMessage): void {
  const coding = req.headers['content-encoding'];
  if (coding === undefined) return;
  for (const part of coding.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && name !== 'identity') {
      throw new AppError('unsupported_media_type', {
        code: CONTENT_CODING_REFUSED,
        detail: `Send the body without a content coding: Content-Encoding "${coding.slice(0, 100)}" is not accepted, only identity.`,
      });
    }
  }
}

/** The raw bytes of a body (webhook signatures are computed over them), 413 past the limit, 415 in a content coding. */
export async function readRawBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  requireIdentityCoding(req);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
