import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors.js';
import { findAlteredNumbers, restoreAlteredNumbers } from './json-numbers.js';

export const MAX_BODY_BYTES = 1024 * 1024;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a JSON request body: 415 for another content type, 413 past the limit (without
 * reading the rest into memory), 400 when it does not parse. Number literals keep the value
 * written (server/http/json-numbers.ts).
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new AppError('unsupported_media_type', {
      code: 'unsupported_media_type',
      detail: `Send the body as application/json${type ? `, not ${type}` : ''}.`,
    });
  }
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
  let text: string;
  try {
    // JSON is UTF-8 (RFC 8259); replacing bad bytes with U+FFFD would record, say, a
    // user_id other than the one sent, and merge distinct ones.
    text = UTF8.decode(Buffer.concat(chunks));
  } catch {
    throw new AppError('bad_request', { code: 'malformed_json', detail: 'The request body is not valid UTF-8.' });
  }
  if (text.trim() === '') throw new AppError('bad_request', { code: 'malformed_json', detail: 'The request body is empty; send a JSON document.' });
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError('bad_request', { code: 'malformed_json', detail: `The request body is not valid JSON: ${(error as Error).message}` });
  }
  // JSON.parse reads every number as a double: 12345678.123456789 would be recorded as
  // 12345678.12345679. A literal it alters is put back as written (ADR 0009, 2026-11-27).
  const altered = findAlteredNumbers(text);
  return altered.length === 0 ? value : restoreAlteredNumbers(text, altered);
}

export const tooLarge = (limit = MAX_BODY_BYTES) =>
  new AppError('payload_too_large', { code: 'payload_too_large', detail: `The request body is larger than ${limit} bytes.` });

/** The raw bytes of a body (webhook signatures are computed over them), 413 past the limit. */
export async function readRawBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
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
