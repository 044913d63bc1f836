import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Database } from './database';

/**
 * Applies migrations/NNN_name.sql in order, each in its own transaction, recorded in
 * schema_migration and never applied twice. An advisory lock serialises instances starting
 * together. (A dozen lines of our own: the maintained runners either want their own file
 * format or open connections of their own, which the single-connection PGlite cannot give.)
 */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', '..', 'migrations');
const LOCK_ID = 0x48534d50; // "HSMP"

export async function migrate(database: Pick<Database, 'connectForLongWork'>, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort();
  // A migration that converts a production-size table takes minutes: not on the pool, whose
  // statements are cut after 5 s (measured: 013's bounds of a year of log, "Query read timeout").
  const connection = await database.connectForLongWork();
  const client = connection.client;
  const applied: string[] = [];
  let healthy = true;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await client.query<{ name: string }>('SELECT name FROM schema_migration')).rows.map((r) => r.name));
    for (const file of files.filter((f) => !done.has(f))) {
      await client.query('BEGIN');
      try {
        await client.query('SET LOCAL statement_timeout = 0');
        await client.query(readFileSync(path.join(dir, file), 'utf8'));
        await client.query('INSERT INTO schema_migration (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } catch (error) {
    healthy = false;
    throw error;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    await connection.release(!healthy);
  }
  return applied;
}
