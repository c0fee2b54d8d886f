import type { HeadersFunction } from '@remix-run/node';

const PASSED = ['Cache-Control', 'Retry-After'] as const;

/**
 * A document response takes its headers only from the route's `headers` export, not
 * from what the loader or action answered. This passes on the two that matter here:
 * Retry-After of a rate-limited form, and no-store on pages with private data or a
 * secret shown once. Set-Cookie is carried by Remix itself.
 */
export const pageHeaders: HeadersFunction = ({ actionHeaders, loaderHeaders, parentHeaders }) => {
  const headers = new Headers();
  for (const name of PASSED) {
    const value = actionHeaders.get(name) ?? loaderHeaders.get(name) ?? parentHeaders.get(name);
    if (value) headers.set(name, value);
  }
  return headers;
};
