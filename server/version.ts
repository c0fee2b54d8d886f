import { createRequire } from 'node:module';

/** The product's version, package.json's (the CLI's --version, the OpenAPI document, /api/health). */
export const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
