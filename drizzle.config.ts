import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
  casing: 'snake_case',
  // Generation needs no database; migrations are applied by db/migrate.ts at start.
  strict: true,
});
