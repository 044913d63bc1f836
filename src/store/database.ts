import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import { dependencyUnavailable, HsmpError } from '../domain/errors';
import type { Logger } from '../log';

/**
 * One code path for both databases: the service always talks to PostgreSQL through a pg.Pool.
 * Without DATABASE_URL, an embedded PGlite (files in HSMP_DATA_DIR) is served on a loopback
 * port by pglite-socket, with ONE connection: pglite-socket multiplexes several clients
 * message by message and interleaves their extended-query messages (measured: pg fails
 * with `portal "" does not exist`), so the embedded pool has max 1.
 */
export interface Database {
  pool: pg.Pool;
  kind: 'embedded' | 'postgres';
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  logger: Logger;
  poolSize?: number;
}

/** Bounds every wait on the database, so a dead one answers 503 quickly instead of hanging. */
const TIMEOUTS = { connectionTimeoutMillis: 3000, query_timeout: 5000, statement_timeout: 5000, idleTimeoutMillis: 30_000 };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10, ...TIMEOUTS });
    watchPool(pool, options.logger);
    return { pool, kind: 'postgres', close: () => pool.end() };
  }
  const dir = path.join(options.dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await server.start();
  const address = server.getServerConn();
  const pool = new pg.Pool({ connectionString: `postgresql://postgres@${address}/postgres`, max: 1, ...TIMEOUTS });
  watchPool(pool, options.logger);
  return {
    pool,
    kind: 'embedded',
    close: async () => {
      await pool.end();
      await server.stop();
      await db.close();
    },
  };
}

function watchPool(pool: pg.Pool, logger: Logger): void {
  // An idle client whose server went away emits here; unhandled it would end the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'database connection lost'));
  // PGlite has one backend session that outlives socket connections: after a reconnect it
  // still holds the named prepared statements of the dead connection, which the new client
  // does not know about ("prepared statement already exists"). A new connection starts clean.
  pool.on('connect', (client) => {
    client.query('DISCARD ALL').catch(() => undefined);
  });
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);

/** Connection-level failures become 503 HSMP-999 (retry later); anything else stays an internal error. */
export function asDatabaseError(error: unknown): unknown {
  if (error instanceof HsmpError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : '';
  const unavailable =
    UNAVAILABLE_CODES.has(code) ||
    code.startsWith('08') ||
    /timeout|terminated|Connection closed|not queryable|ended/i.test(message);
  return unavailable ? dependencyUnavailable('database', error) : error;
}
