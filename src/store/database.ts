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
  /** What this database can do; callers ask these, never which database it is. */
  capabilities: DatabaseCapabilities;
  /** A connection for long work (a CBE import) that the hot path's query timeout must not cut. */
  connectForLongWork(): Promise<LongWorkClient>;
  close(): Promise<void>;
}

export interface DatabaseCapabilities {
  /** COPY FROM STDIN reaches the database (pglite-socket cannot carry it). */
  canCopy: boolean;
  /** Other processes (workers, instances) may use it too; the embedded one belongs to this process. */
  sharedAcrossProcesses: boolean;
  /** Connections in the pool: how much work can be in the database at once. */
  poolSize: number;
}

export interface LongWorkClient {
  client: pg.ClientBase;
  release(broken: boolean): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  logger: Logger;
  poolSize?: number;
}

/**
 * Bounds every wait on the database, so a dead one answers 503 quickly instead of hanging:
 * on the server (statement_timeout) and, for a server across a network, in the client too.
 */
/**
 * The pool holds one connection, but the socket server admits a second: pg-pool destroys a
 * client whose query failed (any SQL error) and connects anew at once, while pglite-socket
 * still counts the closing socket. With room for one, the query after every SQL error met
 * "Too many connections" (measured). The closing client sends only Terminate, so nothing
 * interleaves.
 */
const EMBEDDED_SOCKET_CONNECTIONS = 2;

const TIMEOUTS = { connectionTimeoutMillis: 3000, statement_timeout: 5000, idleTimeoutMillis: 30_000 };
const NETWORK_TIMEOUTS = { ...TIMEOUTS, query_timeout: 5000 };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const url = options.databaseUrl;
    const poolSize = options.poolSize ?? 10;
    const pool = new pg.Pool({ connectionString: url, max: poolSize, ...NETWORK_TIMEOUTS, ...startClean });
    watchPool(pool, options.logger);
    return {
      pool,
      capabilities: { canCopy: true, sharedAcrossProcesses: true, poolSize },
      connectForLongWork: async () => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUTS.connectionTimeoutMillis });
        client.on('error', (error) => {
          options.logger.warn({ err: error }, 'long-work database connection lost');
        });
        await client.connect();
        return { client, release: () => client.end() };
      },
      close: () => pool.end(),
    };
  }
  const dir = path.join(options.dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: EMBEDDED_SOCKET_CONNECTIONS });
  await server.start();
  const address = server.getServerConn();
  const pool = new pg.Pool({ connectionString: `postgresql://postgres@${address}/postgres`, max: 1, ...TIMEOUTS, ...startClean });
  watchPool(pool, options.logger);
  return {
    pool,
    capabilities: { canCopy: false, sharedAcrossProcesses: false, poolSize: 1 },
    // The embedded database has one connection: long work takes it, and waits no network.
    connectForLongWork: () => leaseForLongWork(pool),
    close: async () => {
      await pool.end();
      await server.stop();
      await db.close();
    },
  };
}

/**
 * A client of `pool` as a connection for long work: for a pool whose bounds long work may carry
 * (the embedded database's, which each long statement lifts with SET LOCAL) or that has none.
 */
export async function leaseForLongWork(pool: pg.Pool): Promise<LongWorkClient> {
  const client = await pool.connect();
  return {
    client,
    release: async (broken) => {
      client.release(broken);
    },
  };
}

function watchPool(pool: pg.Pool, logger: Logger): void {
  // An idle client whose server went away emits here; unhandled it would end the process.
  pool.on('error', (error) => {
    logger.warn({ err: error }, 'database connection lost');
  });
}

/**
 * PGlite has one backend session that outlives socket connections: after a reconnect it still
 * holds the named prepared statements of the dead connection, which the new client does not
 * know about ("prepared statement already exists"). So a new connection starts clean; pg-pool
 * awaits onConnect before handing the client out.
 */
const startClean = { onConnect: (client: pg.ClientBase) => client.query('DISCARD ALL') };

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);

/** Connection-level failures become 503 HSMP-999 (retry later); anything else stays an internal error. */
export function asDatabaseError(error: unknown): unknown {
  if (error instanceof HsmpError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : '';
  const unavailable = UNAVAILABLE_CODES.has(code) || code.startsWith('08') || /timeout|terminated|Connection closed|not queryable|ended/i.test(message);
  return unavailable ? dependencyUnavailable('database', error) : error;
}
