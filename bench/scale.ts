import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import Redis from 'ioredis';
import { brusselsDay, nextBrusselsMidnight } from '../src/domain/brussels-day';
import type { Environment } from '../src/domain/environment';
import { createLogger } from '../src/log';
import { ParticipantRegistry } from '../src/participants/registry';
import { generateMigrationKey } from '../src/participants/migration-key';
import { devPkiPaths, generateDevPki } from '../src/dev/dev-pki';
import { PreparedKeys, type KeyPreparer } from '../src/sml';
import { removeLogBefore } from '../src/store/collection-log-partitions';
import { KeyCipher } from '../src/store/key-cipher';
import { measureReconcileAtScale, type ReconcileAtScale } from './scale-reconcile';
import { BODY_STEP, ENTERPRISE_OF, ensureState, fillLogDay, SEATS, type ScaleState, type StateSizes } from './scale-state';
import { benchDeploymentEnv, freePorts, ROOT, startOperatedServer, type OperatedServer } from './support';

/**
 * npm run bench:scale (issue 19): the service on a production-size state against a small one,
 * side by side in one run, alternating small/large, each figure measured twice (the better of the
 * two is reported; both are in the file). Writes bench/results/scale.json.
 *   collect:   first collections (a new key) and repeated ones, req/s through the real TLS service;
 *              WAL per first collection (EXPLAIN (ANALYZE, WAL) of the hot path's own function);
 *   admin:     p99 of every collection- and audit-log read and of /admin/usage after the first
 *              three of each kind (their slowest is admin.first_ms), and non-2xx answers;
 *   retention: dropping the oldest day of the log with the service's own code;
 *   prepare:   keys/s of `sml prepare` batches (the SML side answers at once: the database decides).
 * Sizes: BENCH_SCALE_ENTERPRISES, _KEYS, _LOG_ROWS (defaults 2 000 000, 1 000 000, 30 000 000).
 */
const env = process.env;
const LARGE: StateSizes = {
  enterprises: Number(env.BENCH_SCALE_ENTERPRISES ?? 2_000_000),
  keys: Number(env.BENCH_SCALE_KEYS ?? 1_000_000),
  logRows: Number(env.BENCH_SCALE_LOG_ROWS ?? 30_000_000),
  logDays: 366,
  auditRows: 100_000,
};
const SMALL: StateSizes = { enterprises: 50_000, keys: 25_000, logRows: 100_000, logDays: 366, auditRows: 1_000 };
const SECONDS = Number(env.BENCH_SECONDS ?? 6);
const CONNECTIONS = 16;
const READS_PER_KIND = Number(env.BENCH_SCALE_READS ?? 100);
const WARM_UP_READS = 3;
const WAL_COLLECTIONS = 1000;
const ENVIRONMENT: Environment = 'production';

type Figures = Record<string, number>;

async function main(): Promise<void> {
  const databaseUrl = env.DATABASE_URL;
  const redisUrl = env.REDIS_URL;
  if (!databaseUrl || !redisUrl) throw new Error('set DATABASE_URL and REDIS_URL (the benchmark measures the service with its real servers)');
  const log = (line: string) => {
    console.log(line);
  };
  const suffix = (s: StateSizes) => `${s.enterprises}_${s.keys}_${s.logRows}`;
  const states = {
    small: await ensureState(databaseUrl, `hsmp_scale_small_${suffix(SMALL)}`, SMALL, log),
    large: await ensureState(databaseUrl, `hsmp_scale_large_${suffix(LARGE)}`, LARGE, log),
  };
  if (env.BENCH_SCALE_BUILD_ONLY) return;
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-scale-'));
  const [revocationPort] = await freePorts(1);
  await generateDevPki({ dir: path.join(work, 'pki'), revocationBaseUrl: `http://127.0.0.1:${revocationPort}` });
  const pki = devPkiPaths(path.join(work, 'pki'));
  const tls = { ca: readFileSync(pki.serverCa), cert: readFileSync(pki.clientCert('ap-production')), key: readFileSync(pki.clientKey('ap-production')) };
  const rounds: Array<Record<'small' | 'large', Figures>> = [];
  const redis = new Redis(redisUrl);
  try {
    for (let round = 0; round < 2; round++) {
      const figures = {} as Record<'small' | 'large', Figures>;
      for (const which of ['small', 'large'] as const) {
        log(`round ${round + 1}, ${which}`);
        figures[which] = await measure(states[which], work, pki, tls, redisUrl, redis);
        log(JSON.stringify(figures[which]));
      }
      rounds.push(figures);
    }
  } finally {
    redis.disconnect();
    rmSync(work, { recursive: true, force: true });
  }
  // The SML side at a million participants: bench:reconcile's measurement (BENCH_SCALE_RECONCILE=0 leaves it out).
  const reconcile = env.BENCH_SCALE_RECONCILE === '0' ? undefined : await measureReconcileAtScale({ databaseUrl, redisUrl, log });
  report(rounds, states, reconcile);
}

async function measure(
  state: ScaleState,
  work: string,
  pki: ReturnType<typeof devPkiPaths>,
  tls: { ca: Buffer; cert: Buffer; key: Buffer },
  redisUrl: string,
  redis: Redis,
): Promise<Figures> {
  const db = new pg.Pool({ connectionString: state.url, max: 4 });
  const figures: Figures = {};
  try {
    // Keys the previous round or run issued are taken back: each measurement starts from the built state.
    await db.query('DELETE FROM migration_key WHERE created_at > $1', [state.builtAt]);
    figures['collect.first.wal_bytes'] = await walPerFirstCollection(db, state);
    await db.query('DELETE FROM migration_key WHERE created_at > $1', [state.builtAt]);
    const deploymentEnv = benchDeploymentEnv(pki, state.url, redisUrl);
    const server = await startOperatedServer(path.join(work, `data-${state.name}`), {
      ...deploymentEnv,
      HSMP_KEY_ENCRYPTION_KEY: state.keyEncryptionKey.toString('hex'),
      HSMP_SML: 'off',
      HSMP_ENVIRONMENT: ENVIRONMENT,
      HSMP_ENVIRONMENTS: ENVIRONMENT,
      HSMP_DEV_REVOCATION_PORT: String((await freePorts(1))[0]),
      HSMP_LOG_RETENTION_DAYS: String(state.sizes.logDays + 30),
    });
    try {
      const unkeyed = await enterprises(db, state, false, 40_000);
      const keyed = await enterprises(db, state, true, 10_000);
      figures['collect.first.rps'] = await drive(server, tls, unkeyed, false);
      figures['collect.repeat.rps'] = await drive(server, tls, keyed, true);
      Object.assign(figures, await adminReads(server, db, redis, deploymentEnv.HSMP_REDIS_PREFIX ?? ''));
    } finally {
      await server.stop();
    }
    await db.query('DELETE FROM migration_key WHERE created_at > $1', [state.builtAt]);
    figures['retention.day_purge_seconds'] = await dayPurge(db, state);
    figures['prepare.keys_per_second'] = await prepareRate(db, state);
    await db.query('DELETE FROM migration_key WHERE created_at > $1', [state.builtAt]);
  } finally {
    await db.end();
  }
  return figures;
}

/** Active enterprises with (or without) a key, not migrated away (those are answered 013), from a random place in the number order. */
async function enterprises(db: pg.Pool, state: ScaleState, withKey: boolean, count: number): Promise<string[]> {
  const start = Math.floor(Math.random() * state.sizes.keys);
  const { rows } = await db.query<{ n: string }>(
    `SELECT e.enterprise_number AS n FROM enterprise e
      WHERE e.enterprise_number >= ${ENTERPRISE_OF(`${start} * ${BODY_STEP}`)} AND e.status = 'active'
        AND ${withKey ? '' : 'NOT'} EXISTS (SELECT 1 FROM migration_key k WHERE k.enterprise_number = e.enterprise_number AND k.environment = $1)
        AND NOT EXISTS (SELECT 1 FROM participant_migration m WHERE m.enterprise_number = e.enterprise_number AND m.environment = $1)
      ORDER BY e.enterprise_number LIMIT $2`,
    [ENVIRONMENT, count],
  );
  return rows.map((r) => r.n).sort(() => Math.random() - 0.5);
}

/** Requests per second over SECONDS, CONNECTIONS kept-alive connections, each path at most once when `repeat` is false. */
async function drive(server: OperatedServer, tls: { ca: Buffer; cert: Buffer; key: Buffer }, numbers: string[], repeat: boolean): Promise<number> {
  const pool = new Pool(`https://localhost:${server.port}`, {
    connections: CONNECTIONS,
    connect: { ...tls, servername: 'localhost', rejectUnauthorized: true },
  });
  let next = 0;
  let answered = 0;
  let failed = 0;
  const run = async (until: number, count: boolean) => {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < until && (repeat || next < numbers.length)) {
          const number = numbers[next++ % numbers.length];
          const r = await pool.request({ method: 'GET', path: `/hermes-rw/migrationKey/${number}` });
          await r.body.dump();
          if (!count) continue;
          if (r.statusCode === 200) answered++;
          else failed++;
        }
      }),
    );
  };
  await run(Date.now() + 1000, false);
  const started = Date.now();
  await run(started + SECONDS * 1000, true);
  const elapsed = (Date.now() - started) / 1000;
  await pool.close();
  if (failed > 0) console.log(`  ${failed} collections not answered 200`);
  return Math.round(answered / elapsed);
}

/**
 * WAL bytes per first collection: batches of 16 new keys through hsmp_collect_many, the hot
 * path's one statement, each under EXPLAIN (ANALYZE, WAL), after a checkpoint (full-page images
 * counted as in service).
 */
async function walPerFirstCollection(db: pg.Pool, state: ScaleState): Promise<number> {
  const numbers = await enterprises(db, state, false, WAL_COLLECTIONS);
  const cipher = new KeyCipher(state.keyEncryptionKey);
  await db.query('CHECKPOINT');
  let bytes = 0;
  for (let i = 0; i < numbers.length; i += 16) {
    const batch = numbers.slice(i, i + 16);
    const keys = batch.map((n) => {
      const key = generateMigrationKey();
      return { ciphertext: cipher.encrypt(key, `${n}/${ENVIRONMENT}`), digest: cipher.digest(key) };
    });
    const { rows } = await db.query<{ 'QUERY PLAN': Array<{ Plan: { 'WAL Bytes': number } }> }>(
      `EXPLAIN (ANALYZE, WAL, FORMAT JSON) SELECT * FROM hsmp_collect_many($1::char(10)[], $2::text[], $3::bytea[], $4::bytea[],
         (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, $5::int)), $6::text[], $7::text[], $8::text[], $9::text[], true, $10::timestamptz[])`,
      [
        batch,
        batch.map(() => ENVIRONMENT),
        keys.map((k) => k.ciphertext),
        keys.map((k) => k.digest),
        batch.length,
        batch.map(() => 'PBE000001'),
        batch.map(() => 'bench'),
        batch.map(() => '127.0.0.1'),
        batch.map((n) => `0208:${n}`),
        batch.map(() => new Date()),
      ],
    );
    bytes += rows[0]['QUERY PLAN'][0].Plan['WAL Bytes'];
  }
  return Math.round(bytes / numbers.length);
}

/** p99 (ms) of each operator read, READS_PER_KIND times each, kinds interleaved. */
async function adminReads(server: OperatedServer, db: pg.Pool, redis: Redis, prefix: string): Promise<Figures> {
  const today = brusselsDay(new Date());
  const { rows: sample } = await db.query<{ participant: string; enterprise_number: string }>(
    `SELECT participant, enterprise_number FROM collection_log WHERE collected_at > now() - interval '100 days' AND collected_at < now() - interval '99 days'
       AND enterprise_number IS NOT NULL LIMIT 1`,
  );
  const { rows: oldest } = await db.query<{ id: string }>(`SELECT min(id)::text AS id FROM collection_log`);
  const dayPast = brusselsDay(new Date(Date.now() - 290 * 86400_000));
  const collected = sample[0];
  const neverCollected = `BE${(19_999_999).toString().padStart(8, '0')}${String(97 - (19_999_999 % 97)).padStart(2, '0')}`;
  // Today's usage as a busy day leaves it: 20 000 client addresses and every seat counted.
  const usageKeys = [
    ...Array.from({ length: 20_000 }, (_, i) => `${prefix}:quota:${today}:ip:10.${i % 7}.${i % 251}.${i % 13}-${i}`),
    ...Array.from({ length: SEATS }, (_, i) => `${prefix}:quota:${today}:user:production:PBE${String(i).padStart(6, '0')}`),
  ];
  // The counters and the per-day rankings that /admin/usage pages through, as RedisCounters writes them.
  const rankingOf = (key: string) => {
    const [kind, ...subject] = key.slice(`${prefix}:quota:${today}:`.length).split(':');
    return { ranking: `${prefix}:quota-ranking:${today}:${kind}`, subject: subject.join(':') };
  };
  for (let i = 0; i < usageKeys.length; i += 1000) {
    const chunk = usageKeys.slice(i, i + 1000);
    await redis.mset(Object.fromEntries(chunk.map((k, j) => [k, String(1 + ((i + j) % 50))])));
    const ranked = redis.pipeline();
    chunk.forEach((k, j) => ranked.zadd(rankingOf(k).ranking, 1 + ((i + j) % 50), rankingOf(k).subject));
    await ranked.exec();
  }
  const kinds: Record<string, string> = {
    participant: `/admin/collections?participant=${encodeURIComponent(`iso6523-actorid-upis::${collected.participant}`)}`,
    participant_unparsed: `/admin/collections?participant=garbage-17`,
    participant_never_collected: `/admin/collections?participant=${neverCollected}`,
    day_past: `/admin/collections?day=${dayPast}`,
    seat: `/admin/collections?seatId=PBE000007`,
    seat_unknown: `/admin/collections?seatId=PBE-NO-SUCH-SEAT`,
    unfiltered: `/admin/collections`,
    cursor_deep: `/admin/collections?before=${Number(oldest[0].id) + 1000}`,
    audit: `/admin/audit?operator=operator-3`,
    audit_day_past: `/admin/audit?day=${dayPast}`,
    usage: `/admin/usage`,
  };
  const latencies: Record<string, number[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  const first: Figures = {};
  let errors = 0;
  const client = new Pool(server.adminUrl, { connections: 1 });
  try {
    // The first WARM_UP_READS of each kind on the fresh server are reported apart (admin.first_ms):
    // a new database connection first loads the catalog entries of every day partition a read
    // plans (hundreds of milliseconds for a year), once per connection, and with 100 reads the
    // p99 is the slowest one: it would report that one-off cost, not the steady state.
    for (let i = 0; i < WARM_UP_READS + READS_PER_KIND; i++) {
      for (const [kind, url] of Object.entries(kinds)) {
        const started = process.hrtime.bigint();
        const r = await client.request({ method: 'GET', path: url, headers: { authorization: `Bearer ${server.token}` } });
        await r.body.dump();
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (i < WARM_UP_READS) first[`admin.first_ms.${kind}`] = Math.max(first[`admin.first_ms.${kind}`] ?? 0, round(ms));
        else latencies[kind].push(ms);
        if (r.statusCode >= 300) {
          errors++;
          if (errors <= 3) console.log(`  ${url} answered ${r.statusCode}`);
        }
      }
    }
  } finally {
    await client.close();
    for (let i = 0; i < usageKeys.length; i += 1000) await redis.del(...usageKeys.slice(i, i + 1000));
    await redis.del(`${prefix}:quota-ranking:${today}:ip`, `${prefix}:quota-ranking:${today}:user`);
  }
  const figures: Figures = { 'admin.errors': errors, ...first };
  for (const [kind, values] of Object.entries(latencies)) {
    values.sort((a, b) => a - b);
    figures[`admin.p99_ms.${kind}`] = round(values[Math.min(values.length - 1, Math.floor(0.99 * values.length))]);
  }
  return figures;
}

/**
 * Seconds to remove the oldest day of the log with the retention's own code (a DELETE through
 * the BRIN index of its folded month, the costlier of the two ways a day goes); the day is
 * rebuilt afterwards.
 */
async function dayPurge(db: pg.Pool, state: ScaleState): Promise<number> {
  const { rows } = await db.query<{ collected_at: Date }>('SELECT collected_at FROM collection_log ORDER BY id LIMIT 1');
  const client = await db.connect();
  let seconds: number;
  try {
    const started = process.hrtime.bigint();
    await client.query('BEGIN');
    await removeLogBefore(client, nextBrusselsMidnight(rows[0].collected_at));
    await client.query('COMMIT');
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    client.release();
  }
  const perDay = Math.ceil(state.sizes.logRows / state.sizes.logDays);
  await fillLogDay(db, state.sizes, state.sizes.logDays - 1, perDay);
  return round(seconds, 3);
}

/** Keys per second of `sml prepare` batches of 100 (the SML accepting at once: the database's share). */
async function prepareRate(db: pg.Pool, state: ScaleState): Promise<number> {
  const registry = new ParticipantRegistry(db, new KeyCipher(state.keyEncryptionKey), {
    batchesInFlight: 1,
    keysPreparedElsewhere: false,
    maxPendingRefusals: 10,
    onRefusalsLost: () => undefined,
    logger: createLogger('silent'),
  });
  const acceptingSml = { prepare: async () => undefined } as unknown as KeyPreparer;
  const keys = new PreparedKeys(registry, acceptingSml);
  const start = Math.floor(Math.random() * state.sizes.keys);
  const { rows } = await db.query<{ n: string }>(`SELECT ${ENTERPRISE_OF(`${start} * ${BODY_STEP}`)} AS n`);
  let after = rows[0].n;
  let prepared = 0;
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    const progress = await keys.prepareBatch(ENVIRONMENT, after, 100);
    prepared += progress.prepared;
    if (!progress.next) break;
    after = progress.next;
  }
  await registry.close();
  return Math.round(prepared / ((Date.now() - started) / 1000));
}

function report(
  rounds: Array<Record<'small' | 'large', Figures>>,
  states: Record<'small' | 'large', ScaleState>,
  reconcile: ReconcileAtScale | undefined,
): void {
  const best = (which: 'small' | 'large', key: string, lowerIsBetter: boolean) => {
    const values = rounds.map((r) => r[which][key]);
    return lowerIsBetter ? Math.min(...values) : Math.max(...values);
  };
  const ratio = (key: string) => round(best('large', key, false) / best('small', key, false));
  const results: Record<string, unknown> = {
    'collect.first.rps_ratio': ratio('collect.first.rps'),
    'collect.repeat.rps_ratio': ratio('collect.repeat.rps'),
    'collect.first.wal_bytes_ratio': round(best('large', 'collect.first.wal_bytes', true) / best('small', 'collect.first.wal_bytes', true)),
    'retention.day_purge_seconds': best('large', 'retention.day_purge_seconds', true),
    'prepare.rate_ratio': ratio('prepare.keys_per_second'),
    'admin.errors': Math.max(...rounds.map((r) => r.large['admin.errors'])),
  };
  for (const key of Object.keys(rounds[0].large).filter((k) => k.startsWith('admin.p99_ms.') || k.startsWith('admin.first_ms.')))
    results[key] = best('large', key, true);
  for (const key of ['participants', 'pages', 'seconds', 'service_cpu_ms_per_page', 'completed'] as const)
    results[`reconcile.${key}`] = reconcile?.[key] ?? null;
  results['admin.p99_ms.participant'] = Math.max(results['admin.p99_ms.participant'] as number, results['admin.p99_ms.participant_unparsed'] as number);
  const file = {
    date: new Date().toISOString(),
    ...results,
    sizes: { large: states.large.sizes, small: states.small.sizes },
    rounds,
  };
  console.log(JSON.stringify(results, null, 2));
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', 'scale.json'), JSON.stringify(file, null, 2));
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

main().catch((error: unknown) => {
  console.error(`bench:scale: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
