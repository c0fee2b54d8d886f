import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { problemType, type AppError, type FieldError } from '../errors.js';
import { CONTENT_CODING_REFUSED } from './body.js';

/** RFC 9457 problem details, as REST answers them and tRPC carries them. */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
};

export function toProblem(error: AppError, requestId?: string): Problem {
  return {
    ...(error.meta ?? {}),
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.detail,
    ...(error.errors ? { errors: error.errors } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  };
}

export function sendProblem(res: ServerResponse, error: AppError, requestId?: string): void {
  const body = JSON.stringify(toProblem(error, requestId));
  const headers: Record<string, string | number> = {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter);
  if (error.status === 401) headers['www-authenticate'] = 'Bearer realm="staryer-usage"';
  if (error.code === CONTENT_CODING_REFUSED) headers['accept-encoding'] = 'identity'; // RFC 9110 §15.5.16
  res.writeHead(error.status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Node's own refusals, by error code; anything else it refuses is a 400. */
const PARSER_REFUSALS: Record<string, { status: number; code: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'request_header_fields_too_large', detail: 'The request line and headers are larger than the server takes (16 KB).' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, code: 'payload_too_large', detail: 'The chunk extensions of the request body are larger than the server takes.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', detail: 'The request did not arrive in time; send it again.' },
};

/**
 * `clientError`: a request Node's HTTP parser refuses before any handler sees it (431 header
 * block or URL too large, 400 malformed request line or Transfer-Encoding with Content-Length,
 * 408 too slow) is answered as problem JSON like every other error, then the connection is
 * closed. Nothing is written when the peer is gone or an answer already started on the socket.
 * Returns the status answered (0: none), for the log.
 */
export function answerClientError(error: NodeJS.ErrnoException & { reason?: unknown }, socket: Duplex): number {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  let status = 0;
  if (error.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const reason = typeof error.reason === 'string' && error.reason ? `: ${error.reason}` : '';
    const refusal = (error.code ? PARSER_REFUSALS[error.code] : undefined) ?? { status: 400, code: 'bad_request', detail: `The request is not valid HTTP/1.1${reason}.` };
    status = refusal.status;
    const title = STATUS_CODES[status] ?? 'Bad Request';
    const body = JSON.stringify({ type: problemType(refusal.code), title, status, detail: refusal.detail });
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
  return status;
}
