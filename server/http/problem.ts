import type { ServerResponse } from 'node:http';
import { problemType, type AppError, type FieldError } from '../errors.js';

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
