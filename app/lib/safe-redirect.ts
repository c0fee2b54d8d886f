export const DASHBOARD_PATH = '/creator/dashboard/usage';

const BASE = 'http://same-site.invalid';

/**
 * Where to go after logging in: `next` only when it is a path on this site. A single
 * leading "/" is required; "//host" and "/\host" are other sites to a browser, and
 * control characters or backslashes are refused because browsers rewrite them.
 */
export function safeNextPath(next: unknown, fallback: string = DASHBOARD_PATH): string {
  if (typeof next !== 'string' || next.length === 0 || next.length > 2048) return fallback;
  if (!next.startsWith('/') || next.startsWith('//')) return fallback;
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return fallback;
  let url: URL;
  try {
    url = new URL(next, BASE);
  } catch {
    return fallback;
  }
  if (url.origin !== BASE) return fallback;
  // Dot segments collapse while parsing: "/.//evil.example" has the path "//evil.example",
  // which a browser reads as another site. The result is checked again, as sent.
  const path = url.pathname + url.search + url.hash;
  if (path.startsWith('//') || path.startsWith('/\\')) return fallback;
  return path;
}
