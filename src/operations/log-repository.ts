import type pg from 'pg';
import { brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { parseParticipantId } from '../participants/participant-id';
import type { DayUsage } from '../quota';
import { listLogPartitions, logPartitionIds, sealedDayIds, type LogPartition, type LogPartitionIds } from '../store/collection-log-partitions';
import { asDatabaseError } from '../store/database';
import { ReadTooBroad } from './errors';

/**
 * Pages of the audit log and the collection log, newest first, paged by id (SPEC §4): each
 * filter has an index ordered by id (migrations/008), and a read of the collection log plans and
 * probes only the partitions it needs (see collectionPage), so a page costs about the rows it
 * shows and the partitions it spans, at any size of the log. A read that still takes longer than
 * READ_TIMEOUT_MS is stopped and answered 503 (ReadTooBroad).
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
  return page(await boundedReads(pool, (read) => read(sql, params.values)), q.limit);
}

/**
 * `participant` as the operator typed it: an enterprise number in any accepted spelling finds
 * that enterprise's rows (and refusals written before migration 008 with the number as asked);
 * anything else finds the rows whose participant was asked exactly so. Each is its own indexed
 * branch: an OR of the two walked the whole log.
 *
 * A `day` reads its one partition. Any other read goes through the partitions newest first (the
 * days of the current month, then a partition per sealed month: migrations/012), a few at a time
 * (LOG_WINDOWS), and stops as soon as the page is full and no older partition holds a higher id:
 * the planner then sees (and probes) only the partitions read. A page of recent rows reads a day
 * or two; a filter that matches little or nothing reads the whole year, ~45 partitions.
 */
export async function collectionPage(pool: pg.Pool, q: LogQuery): Promise<LogPage> {
  return page(
    await boundedReads(pool, async (read) => {
      if (q.day !== undefined) return dayPage(read, q, q.day);
      const windows = await readWindows(pool, read.client, q.before);
      let rows: LogRow[] = [];
      for (const window of windows) {
        rows = newestFirst([...rows, ...(await read(...collectionSelect(q, window)))]).slice(0, q.limit);
        if (window.olderMaxId === null || (rows.length === q.limit && BigInt(rows[rows.length - 1].id) > window.olderMaxId)) break;
      }
      return rows;
    }),
    q.limit,
  );
}

type LogRow = Record<string, unknown> & { id: string };

/**
 * A page of one day. A day partition is read as it is. A day of a folded month is read by id
 * range: its bounds at the fold (the month's primary key, from the page's top), and the ids above
 * the month's highest at the fold (rows written after it: normally none, one index probe). Read
 * by time alone, the month's BRIN index gave the whole day's rows to sort for every page.
 */
async function dayPage(read: Read, q: LogQuery, day: string): Promise<LogRow[]> {
  const range = dayRange(day);
  const sealed = await sealedDayIds(read.client, day);
  if (sealed === undefined) return read(...collectionSelect(q, range));
  const later = await read(...collectionSelect(q, { ...range, idAbove: sealed.monthMaxId }));
  const atFold =
    sealed.minId === null || sealed.maxId === null ? [] : await read(...collectionSelect(q, { ...range, idFrom: sealed.minId, idTo: sealed.maxId }));
  return newestFirst([...later, ...atFold]).slice(0, q.limit);
}

/** A time range of the log read in one statement; `olderMaxId`: the highest id of all rows older than it (null: none). */
interface ReadWindow {
  from?: Date;
  to?: Date;
  olderMaxId: bigint | null;
}

/** Sealed partitions read per statement, newest first, then all the others at once. */
const LOG_WINDOWS = [7, 30, 90];
/**
 * A partition gets no more rows once it ended a day ago (a row's time is its request's arrival;
 * late writes are queued refusals, seconds late): its id bounds are then remembered per database
 * pool and per table.
 */
const SEALED_AFTER_MS = 86_400_000;
const sealedIds = new WeakMap<pg.Pool, Map<string, LogPartitionIds>>();

/**
 * The windows of a read without `day`: the open days (yesterday, today, those ahead and the
 * default partition's future) first, then the sealed partitions newest first in growing windows,
 * the last one open-ended. Every time is in exactly one window, so every row is read once. With a
 * cursor, the sealed partitions whose lowest id is at or above it are skipped (none of their rows
 * comes before it), unless rows wait in the default partition, whose times such a gap may hold.
 */
async function readWindows(pool: pg.Pool, client: pg.ClientBase, before: number | undefined): Promise<ReadWindow[]> {
  const { partitions, defaultMaxId } = await listLogPartitions(client);
  const sealedUntil = Date.now() - SEALED_AFTER_MS;
  let sealed = partitions.filter((d) => d.endsAt.getTime() <= sealedUntil);
  const known = sealedIds.get(pool) ?? new Map<string, LogPartitionIds>();
  sealedIds.set(pool, known);
  for (const [oid, ids] of await logPartitionIds(
    client,
    sealed.filter((d) => !known.has(d.oid)),
  ))
    known.set(oid, ids);
  const present = new Set(partitions.map((d) => d.oid));
  for (const oid of known.keys()) if (!present.has(oid)) known.delete(oid);
  const idBound = (d: LogPartition, which: keyof LogPartitionIds) => {
    const id = known.get(d.oid)?.[which];
    return id === undefined || id === null ? null : BigInt(id);
  };

  const newestSealedEnd = sealed.length > 0 ? sealed[0].endsAt : undefined;
  let gapAbove: Date | undefined;
  if (before !== undefined && defaultMaxId === null) {
    const firstUseful = sealed.findIndex((d) => {
      const min = idBound(d, 'min');
      return min !== null && min < BigInt(before);
    });
    if (firstUseful > 0) gapAbove = sealed[firstUseful].endsAt;
    sealed = firstUseful === -1 ? [] : sealed.slice(firstUseful);
  }
  // The highest id older than each point: over the sealed partitions from index i on, and the default partition.
  const olderMax: Array<bigint | null> = new Array<bigint | null>(sealed.length + 1);
  olderMax[sealed.length] = defaultMaxId === null ? null : BigInt(defaultMaxId);
  for (let i = sealed.length - 1; i >= 0; i--) {
    const here = idBound(sealed[i], 'max');
    const after = olderMax[i + 1];
    olderMax[i] = here === null ? after : after === null || here > after ? here : after;
  }

  const windows: ReadWindow[] = [{ from: newestSealedEnd, olderMaxId: newestSealedEnd === undefined ? null : olderMax[0] }];
  // No sealed partition, or (after the skip) none below the cursor: the open days were everything.
  if (sealed.length === 0) return windows;
  let to = gapAbove ?? newestSealedEnd;
  let i = 0;
  for (const size of LOG_WINDOWS) {
    if (sealed.length - i <= size) break;
    const from = sealed[i + size - 1].startsAt;
    windows.push({ from, to, olderMaxId: olderMax[i + size] });
    to = from;
    i += size;
  }
  windows.push({ to, olderMaxId: null });
  return windows;
}

/** The rows a statement reads: a time range, and (a day of a folded month) an id range or the ids above one. */
interface ReadRange {
  from?: Date;
  to?: Date;
  idFrom?: string;
  idTo?: string;
  idAbove?: string;
}

function collectionSelect(q: LogQuery, range: ReadRange): [string, unknown[]] {
  const params = new Parameters();
  const common = q.seatId === undefined ? [] : [`seat_id = ${params.add(q.seatId)}`];
  if (range.from !== undefined) common.push(`collected_at >= ${params.add(range.from)}`);
  if (range.to !== undefined) common.push(`collected_at < ${params.add(range.to)}`);
  if (range.idFrom !== undefined) common.push(`id >= ${params.add(range.idFrom)}`);
  if (range.idTo !== undefined) common.push(`id <= ${params.add(range.idTo)}`);
  if (range.idAbove !== undefined) common.push(`id > ${params.add(range.idAbove)}`);
  if (q.before !== undefined) common.push(`id < ${params.add(q.before)}`);
  const select = (conditions: string[]) =>
    `SELECT ${COLLECTION_COLUMNS} FROM collection_log ${where([...common, ...conditions])} ORDER BY id DESC LIMIT ${q.limit}`;
  if (q.participant === undefined) return [select([]), params.values];
  const parsed = parseParticipantId(q.participant);
  const asked = [...new Set(parsed ? [q.participant, parsed.enterpriseNumber] : [q.participant])];
  const branches = [select([`enterprise_number IS NULL AND participant = ANY(${params.add(asked)}::text[])`])];
  if (parsed) branches.unshift(select([`enterprise_number = ${params.add(parsed.enterpriseNumber)}`]));
  return [`SELECT * FROM (${branches.map((b) => `(${b})`).join(' UNION ALL ')}) page ORDER BY id DESC LIMIT ${q.limit}`, params.values];
}

/** A Brussels day as the time range of its rows. */
function dayRange(day: string): { from: Date; to: Date } {
  const from = brusselsMidnight(day);
  return { from, to: nextBrusselsMidnight(from) };
}

const newestFirst = (rows: LogRow[]) => rows.sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : BigInt(b.id) < BigInt(a.id) ? -1 : 0));

function dayAndCursor(params: Parameters, timeColumn: string, q: LogQuery): string[] {
  const conditions: string[] = [];
  if (q.day !== undefined) {
    const { from, to } = dayRange(q.day);
    conditions.push(`${timeColumn} >= ${params.add(from)}`, `${timeColumn} < ${params.add(to)}`);
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

/** A statement of a bounded read: each under READ_TIMEOUT_MS, planned with its own values (a time range prunes the days at planning). */
type Read = ((sql: string, values: unknown[]) => Promise<LogRow[]>) & { client: pg.ClientBase };

/**
 * The statements of one read in one read-only transaction, each under READ_TIMEOUT_MS and the
 * whole stopped past it: a cancelled or overlong read is ReadTooBroad, a dead database 503.
 */
async function boundedReads<T>(pool: pg.Pool, body: (read: Read) => Promise<T>): Promise<T> {
  let client: pg.PoolClient | undefined;
  const tooBroad = () =>
    new ReadTooBroad(`the read took longer than ${READ_TIMEOUT_MS} ms and was stopped: narrow the filter (a day, a seat or a participant)`);
  try {
    client = await pool.connect();
    const started = Date.now();
    await client.query('BEGIN READ ONLY');
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(READ_TIMEOUT_MS)]);
    const connected = client;
    const read = Object.assign(
      async (sql: string, values: unknown[]) => {
        if (Date.now() - started > READ_TIMEOUT_MS) throw tooBroad();
        return (await connected.query<LogRow>(sql, values)).rows;
      },
      { client },
    );
    const result = await body(read);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client?.query('ROLLBACK').catch(() => undefined);
    if (error instanceof ReadTooBroad) throw error;
    if ((error as { code?: string }).code === QUERY_CANCELED) throw tooBroad();
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
  const { from, to } = dayRange(day);
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
    [from, to],
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

/**
 * Collections per hour and outcome since a time: the console's chart. The range prunes the
 * collection log to a week of day partitions; bounded like every log read.
 */
export async function collectionsPerHour(pool: pg.Pool, since: Date): Promise<Array<{ hour: Date; outcome: string; count: number }>> {
  const rows = await boundedReads(pool, (read) =>
    read(
      `SELECT date_trunc('hour', collected_at) AS hour, outcome, count(*)::int AS count FROM collection_log WHERE collected_at >= $1 GROUP BY 1, 2 ORDER BY 1`,
      [since],
    ),
  );
  return rows as unknown as Array<{ hour: Date; outcome: string; count: number }>;
}
