import { createHash } from 'node:crypto';
import type pg from 'pg';
import { brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { parseParticipantId } from '../participants/participant-id';
import type { DayUsage } from '../quota';
import { asDatabaseError } from '../store/database';
import { ReadTooBroad } from './errors';

/**
 * Pages of the audit log and the collection log, newest first, paged by id (SPEC §4): each
 * filter has an index ordered by id (migrations/008), and a `day` names one partition of the
 * collection log, so a page reads about as many rows as it shows at any size of the log. A read
 * that still takes longer than READ_TIMEOUT_MS is cancelled and answered 503 (ReadTooBroad).
 */
export interface LogQuery {
  day?: string;
  operator?: string;
  seatId?: string;
  participant?: string;
  limit: number;
  before?: number;
}

export interface LogPage {
  entries: Array<Record<string, unknown>>;
  next: string | null;
}

/** Far above a page's few milliseconds, far below an operator's patience and the pool's 5 s. */
export const READ_TIMEOUT_MS = 2000;
const QUERY_CANCELED = '57014';

const COLLECTION_COLUMNS = 'id, request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome';

export async function auditPage(pool: pg.Pool, q: LogQuery): Promise<LogPage> {
  const params = new Parameters();
  const conditions = q.operator === undefined ? [] : [`operator = ${params.add(q.operator)}`];
  conditions.push(...dayAndCursor(params, 'at', q));
  const sql = `SELECT id, at, operator, action, target, reason, details FROM audit_log ${where(conditions)} ORDER BY id DESC LIMIT ${q.limit}`;
  return page(await boundedRead(pool, sql, params.values), q.limit);
}

/**
 * `participant` as the operator typed it: an enterprise number in any accepted spelling finds
 * that enterprise's rows (and refusals written before migration 008 with the number as asked);
 * anything else finds the rows whose participant was asked exactly so. Each is its own indexed
 * branch: an OR of the two walked the whole log.
 */
export async function collectionPage(pool: pg.Pool, q: LogQuery): Promise<LogPage> {
  const params = new Parameters();
  const common = q.seatId === undefined ? [] : [`seat_id = ${params.add(q.seatId)}`];
  common.push(...dayAndCursor(params, 'collected_at', q));
  const select = (conditions: string[]) =>
    `SELECT ${COLLECTION_COLUMNS} FROM collection_log ${where([...common, ...conditions])} ORDER BY id DESC LIMIT ${q.limit}`;
  let sql: string;
  if (q.participant === undefined) {
    sql = select([]);
  } else {
    const parsed = parseParticipantId(q.participant);
    const asked = [...new Set(parsed ? [q.participant, parsed.enterpriseNumber] : [q.participant])];
    const branches = [select([`enterprise_number IS NULL AND participant = ANY(${params.add(asked)}::text[])`])];
    if (parsed) branches.unshift(select([`enterprise_number = ${params.add(parsed.enterpriseNumber)}`]));
    sql = `SELECT * FROM (${branches.map((b) => `(${b})`).join(' UNION ALL ')}) page ORDER BY id DESC LIMIT ${q.limit}`;
  }
  return page(await boundedRead(pool, sql, params.values), q.limit);
}

function dayAndCursor(params: Parameters, timeColumn: string, q: LogQuery): string[] {
  const conditions: string[] = [];
  if (q.day !== undefined) {
    const start = brusselsMidnight(q.day);
    conditions.push(`${timeColumn} >= ${params.add(start)}`, `${timeColumn} < ${params.add(nextBrusselsMidnight(start))}`);
  }
  if (q.before !== undefined) conditions.push(`id < ${params.add(q.before)}`);
  return conditions;
}

/** Numbered query parameters: `add` returns the placeholder of its value. */
class Parameters {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

function where(conditions: string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/** One read under READ_TIMEOUT_MS; a cancelled read is ReadTooBroad, a dead database 503. */
async function boundedRead(pool: pg.Pool, sql: string, values: unknown[]): Promise<Array<Record<string, unknown> & { id: string }>> {
  let client: pg.PoolClient | undefined;
  try {
    client = await pool.connect();
    await client.query('BEGIN READ ONLY');
    // Planning a read of a year of day partitions costs far more than running it: each shape of
    // read is planned once per connection (a named statement, its generic plan; a day is pruned
    // when the plan starts) instead of on every page.
    await client.query(`SELECT set_config('statement_timeout', $1, true), set_config('plan_cache_mode', 'force_generic_plan', true)`, [
      String(READ_TIMEOUT_MS),
    ]);
    const name = `hsmp_log_read_${createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
    const { rows } = await client.query<Record<string, unknown> & { id: string }>({ name, text: sql, values });
    await client.query('COMMIT');
    return rows;
  } catch (error) {
    await client?.query('ROLLBACK').catch(() => undefined);
    if ((error as { code?: string }).code === QUERY_CANCELED) {
      throw new ReadTooBroad(`the read took longer than ${READ_TIMEOUT_MS} ms and was stopped: narrow the filter (a day, a seat or a participant)`);
    }
    throw asDatabaseError(error);
  } finally {
    client?.release();
  }
}

/**
 * What the quota counters of a Brussels day held, rebuilt from the durable log (after Redis
 * lost them: a restart without persistence, a failover to a replica that missed writes, a
 * flush). A query counts when it reached the counters: every row but the 5xx ones (given
 * back) and the 811/812/813 ones (most answered by a block in force, before counting), and
 * only after the subject's last reactivation that day (which reset its counter).
 *
 * The log does not say which certificate environment a seat used, only the environment asked
 * for: `production:SEAT` gets every row of the seat, `test:SEAT` the rows that did not ask for
 * production (a test certificate cannot). A seat holding both kinds of certificate is counted
 * strictly (never more quota than it had). The query that exceeded a limit and was refused is
 * not rebuilt in the other two counters: at most a few per block written that day.
 */
export async function quotaUsageOfDay(pool: pg.Pool, day: string): Promise<DayUsage> {
  const start = brusselsMidnight(day);
  const end = nextBrusselsMidnight(start);
  const { rows } = await pool.query<{ kind: 'user' | 'ip' | 'global'; subject: string; n: number }>(
    `WITH lifts AS (
       SELECT kind, subject, max(lifted_at) AS at FROM block WHERE lifted_at >= $1 AND lifted_at < $2 GROUP BY kind, subject
     ), counted AS (
       SELECT seat_id, client_ip, environment, collected_at FROM collection_log
        WHERE collected_at >= $1 AND collected_at < $2
          AND outcome NOT IN ('HSMP-811', 'HSMP-812', 'HSMP-813') AND outcome NOT LIKE 'HSMP-9%'
     )
     SELECT 'global' AS kind, '*' AS subject, count(*)::int AS n FROM counted
      WHERE collected_at > coalesce((SELECT at FROM lifts WHERE kind = 'global' AND subject = '*'), '-infinity')
     UNION ALL
     SELECT 'ip', c.client_ip, count(*)::int FROM counted c
       LEFT JOIN lifts l ON l.kind = 'ip' AND l.subject = c.client_ip
      WHERE c.collected_at > coalesce(l.at, '-infinity')
      GROUP BY c.client_ip
     UNION ALL
     SELECT 'user', e.environment || ':' || c.seat_id, count(*)::int
       FROM counted c CROSS JOIN (VALUES ('test'), ('production')) AS e (environment)
       LEFT JOIN lifts l ON l.kind = 'user' AND l.subject = e.environment || ':' || c.seat_id
      WHERE c.collected_at > coalesce(l.at, '-infinity') AND (e.environment = 'production' OR c.environment <> 'production')
      GROUP BY e.environment, c.seat_id`,
    [start, end],
  );
  const usage: DayUsage = { users: {}, ips: {}, global: 0 };
  for (const { kind, subject, n } of rows) {
    if (kind === 'global') usage.global = n;
    else if (kind === 'ip') usage.ips[subject] = n;
    else usage.users[subject] = n;
  }
  return usage;
}

function page(rows: Array<Record<string, unknown> & { id: string }>, limit: number): LogPage {
  return { entries: rows, next: rows.length === limit ? rows[rows.length - 1].id : null };
}
