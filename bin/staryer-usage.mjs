#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so `npx staryer-usage` works from a clone without a compile step.
import { register } from 'tsx/esm/api';

register();
await import('../server/cli.ts');
