import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { generateMigrationKey } from '../src/participants/migration-key';
import { foldOldestSealedMonth } from '../src/store/collection-log-partitions';
import { leaseForLongWork } from '../src/store/database';
import { KeyCipher } from '../src/store/key-cipher';
import { migrate } from '../src/store/migrate';
import { withAdminClient } from './support';

/**
 * The states `npm run bench:scale` compares, built in PostgreSQL with SQL (generate_series, COPY),
 * not through the API, and kept by name: a database whose recorded sizes match is reused, so the
 * 30-million-row state is built once. Every enterprise number has valid check digits; half of
 * the first `keys * 2` enterprises hold a production key, encrypted with the state's own
 * key-encryption key (recorded in the state, so that a service started on it can answer them).
 */
export interface StateSizes {
  enterprises: number;
  keys: number;
  logRows: number;
  /** Days the log rows spread over, ending today. */
  logDays: number;
  auditRows: number;
}

export interface ScaleState {
  name: string;
  url: string;
  sizes: StateSizes;
  keyEncryptionKey: Buffer;
  builtAt: Date;
}

/** The enterprise number of body `i` (eight digits, first 0 or 1) with its check digits, in SQL. */
export const ENTERPRISE_OF = (body: string) => `lpad((${body})::text, 8, '0') || lpad((97 - (${body}) % 97)::text, 2, '0')`;
/** Bodies are spaced by 9 so that 2 million of them stay below 20 000 000 (first digit 0 or 1). */
export const BODY_STEP = 9;
export const SEATS = 97;
/** Ids of day `n` (from the oldest) start at n × this: above any day's rows. */
const ID_SPACE_PER_DAY = 10_000_000;

export async function ensureState(serverUrl: string, name: string, sizes: StateSizes, log: (line: string) => void): Promise<ScaleState> {
  const url = Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString();
  const exists = await withAdminClient(serverUrl, async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
  if (!exists) await withAdminClient(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  try {
    // The bench's pool has no statement bound: a migration's long statements run on it as they are.
    await migrate({ connectForLongWork: () => leaseForLongWork(pool) });
    await pool.query(`CREATE TABLE IF NOT EXISTS bench_scale_state (
      step text PRIMARY KEY, sizes jsonb NOT NULL, key_encryption_key bytea, built_at timestamptz NOT NULL DEFAULT now())`);
    const recorded = new Map(
      (await pool.query<{ step: string; sizes: StateSizes }>('SELECT step, sizes FROM bench_scale_state')).rows.map((r) => [r.step, canonical(r.sizes)]),
    );
    const done = (step: string) => recorded.get(step) === canonical(sizes);
    const mark = (step: string, kek?: Buffer) =>
      pool.query(
        `INSERT INTO bench_scale_state (step, sizes, key_encryption_key) VALUES ($1, $2, $3)
         ON CONFLICT (step) DO UPDATE SET sizes = EXCLUDED.sizes, key_encryption_key = coalesce(EXCLUDED.key_encryption_key, bench_scale_state.key_encryption_key), built_at = now()`,
        [step, JSON.stringify(sizes), kek ?? null],
      );
    if (!done('enterprises')) {
      log(`${name}: ${sizes.enterprises} enterprises and ${sizes.keys} keys`);
      await pool.query('TRUNCATE migration_key, participant_migration, enterprise, key_encryption_check');
      await pool.query(
        `INSERT INTO enterprise (enterprise_number, status)
         SELECT ${ENTERPRISE_OF(`i * ${BODY_STEP}`)}, CASE WHEN i % 50 = 7 THEN 'inactive' ELSE 'active' END
           FROM generate_series(0, $1::int - 1) i`,
        [sizes.enterprises],
      );
      // Migrated away is per environment (migration 006): 2 % of the participants left in production.
      await pool.query(
        `INSERT INTO participant_migration (enterprise_number, environment, source)
         SELECT ${ENTERPRISE_OF(`i * ${BODY_STEP}`)}, 'production', 'reconciliation'
           FROM generate_series(0, $1::int - 1) i WHERE i % 50 = 9`,
        [sizes.enterprises],
      );
      const kek = randomBytes(32);
      await copyKeys(pool, new KeyCipher(kek), sizes.keys);
      await pool.query('INSERT INTO key_encryption_check (digest) VALUES ($1)', [new KeyCipher(kek).fingerprint()]);
      await pool.query('ANALYZE enterprise; ANALYZE migration_key');
      await mark('enterprises', kek);
    }
    if (!done('log')) {
      log(`${name}: ${sizes.logRows} collection-log rows over ${sizes.logDays} days`);
      await fillLog(pool, sizes, log);
      await mark('log');
    }
    // As the service's retention does, one month at a time (a no-op once folded; the state is reused).
    await foldSealedMonths(pool, name, log);
    if (!done('audit')) {
      await pool.query('TRUNCATE audit_log');
      await pool.query(
        `INSERT INTO audit_log (at, operator, action, target, reason, details)
         SELECT now() - (($1::int - i) * interval '1 day' * $2::int / $1::int), 'operator-' || (i % 5), 'grant-allowance', 'PBE' || lpad((i % ${SEATS})::text, 6, '0'),
                'bench', '{}'::jsonb
           FROM generate_series(1, $1::int) i`,
        [sizes.auditRows, sizes.logDays],
      );
      await pool.query('ANALYZE audit_log');
      await mark('audit');
    }
    const { rows } = await pool.query<{ key_encryption_key: Buffer; built_at: Date }>(
      `SELECT key_encryption_key, (SELECT max(built_at) FROM bench_scale_state) AS built_at FROM bench_scale_state WHERE step = 'enterprises'`,
    );
    return { name, url, sizes, keyEncryptionKey: rows[0].key_encryption_key, builtAt: rows[0].built_at };
  } finally {
    await pool.end();
  }
}

/** The same text for the same sizes, whatever the order of their members (jsonb reorders them). */
function canonical(sizes: StateSizes): string {
  return JSON.stringify(Object.entries(sizes).sort(([a], [b]) => a.localeCompare(b)));
}

/** Keys for every second enterprise of the first `keys * 2`, prepared, streamed in by COPY. */
async function copyKeys(pool: pg.Pool, cipher: KeyCipher, keys: number): Promise<void> {
  const { rows } = await pool.query<{ enterprise_number: string }>(
    `SELECT ${ENTERPRISE_OF(`i * ${BODY_STEP}`)} AS enterprise_number FROM generate_series(0, $1::int - 1, 2) i`,
    [keys * 2],
  );
  const client = await pool.connect();
  try {
    const lines = (function* () {
      for (const { enterprise_number: n } of rows) {
        const key = generateMigrationKey();
        const row = `${n}/production`;
        yield `${n}\tproduction\t\\\\x${cipher.encrypt(key, row).toString('hex')}\t\\\\x${cipher.digest(key).toString('hex')}\t${new Date().toISOString()}\n`;
      }
    })();
    await pipeline(
      Readable.from(lines),
      client.query(copyFrom('COPY migration_key (enterprise_number, environment, key_ciphertext, key_digest, prepared_at) FROM STDIN')),
    );
  } finally {
    client.release();
  }
}

/**
 * The log, day by day from the oldest: each day its partition and its share of the rows in time
 * order (ids grow with time, as in service), 1 % garbage participants (HSMP-001), 2 % HSMP-012.
 * Resumable: a day whose partition already holds its rows is skipped.
 */
async function fillLog(pool: pg.Pool, sizes: StateSizes, log: (line: string) => void): Promise<void> {
  const perDay = Math.ceil(sizes.logRows / sizes.logDays);
  const started = Date.now();
  let filled = 0;
  // Partitions first, one at a time: two creating partitions of one table at once deadlock.
  await pool.query(`SELECT hsmp_collection_log_day((now() AT TIME ZONE 'Europe/Brussels')::date - n) FROM generate_series(0, $1::int - 1) n`, [sizes.logDays]);
  // Two days at a time (PostgreSQL fills one per backend); ids are set from the day, so they
  // grow with time whatever order the days are filled in.
  await Promise.all(
    [0, 1].map(async (worker) => {
      for (let back = sizes.logDays - 1 - worker; back >= 0; back -= 2) {
        await fillLogDay(pool, sizes, back, perDay);
        if (++filled % 30 === 0) log(`  ${filled}/${sizes.logDays} days, ${Math.round((Date.now() - started) / 1000)} s`);
      }
    }),
  );
  await pool.query(`SELECT setval('collection_log_id_seq', (SELECT max(id) FROM collection_log))`);
  await pool.query('ANALYZE collection_log');
}

/** The sealed months' day partitions folded into month partitions with the service's own code, timed. */
async function foldSealedMonths(pool: pg.Pool, name: string, log: (line: string) => void): Promise<void> {
  const client = await pool.connect();
  try {
    for (;;) {
      const started = Date.now();
      await client.query('BEGIN');
      const folded = await foldOldestSealedMonth(client, new Date(Date.now() - 86_400_000));
      await client.query('COMMIT');
      if (folded === undefined) break;
      log(`${name}: month ${folded.month} folded, ${folded.rows} rows, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** One day of the log, `back` days before today (Brussels), in its day's or its folded month's partition; does nothing if it holds its rows. */
export async function fillLogDay(pool: pg.Pool, sizes: StateSizes, back: number, perDay: number): Promise<void> {
  const { rows } = await pool.query<{ partition: string; day_from: Date; day_to: Date }>(
    `SELECT hsmp_collection_log_day(d) AS partition, d::timestamp AT TIME ZONE 'Europe/Brussels' AS day_from,
            (d + 1)::timestamp AT TIME ZONE 'Europe/Brussels' AS day_to
       FROM (SELECT (now() AT TIME ZONE 'Europe/Brussels')::date - $1::int AS d) x`,
    [back],
  );
  const { day_from: from, day_to: to } = rows[0];
  const { rows: count } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM collection_log WHERE collected_at >= $1 AND collected_at < $2`, [
    from,
    to,
  ]);
  if (Number(count[0].n) >= perDay) return;
  await pool.query(`DELETE FROM collection_log WHERE collected_at >= $1 AND collected_at < $2`, [from, to]);
  const body = `((g * 7919 + ${back} * 104729) % ${sizes.enterprises}) * ${BODY_STEP}`;
  await pool.query(
    `INSERT INTO collection_log (id, request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
     SELECT ${(sizes.logDays - back) * ID_SPACE_PER_DAY} + g, gen_random_uuid(), $1::timestamptz + ($2::timestamptz - $1::timestamptz) * (g::float8 / $3::int),
            'PBE' || lpad((g % ${SEATS})::text, 6, '0'), md5('fp' || (g % ${SEATS})), '10.' || (g % 7) || '.' || (g % 251) || '.' || (g % 13),
            'production',
            CASE WHEN g % 100 = 0 THEN 'garbage-' || (g % 1000) ELSE '0208:' || en END,
            CASE WHEN g % 100 = 0 THEN NULL ELSE en END,
            CASE WHEN g % 100 = 0 THEN 'HSMP-001' WHEN g % 50 = 1 THEN 'HSMP-012' ELSE '200' END
       FROM (SELECT g, ${ENTERPRISE_OF(body)} AS en FROM generate_series(0, $3::int - 1) g) rows`,
    [from, to, perDay],
  );
}
