import type pg from 'pg';
import { brusselsDay, brusselsMidnight } from '../domain/brussels-day';

/**
 * The collection log's partitions (migrations/008 and 012): a partition per Brussels day, made
 * ahead of time; sealed months folded into one partition each; both dropped whole once older
 * than the retention (SPEC §5), and the expired days of a month deleted from it through its
 * BRIN index on the time: no statement scans the log. Listed with their id bounds for the
 * operators' reads. The only SQL on the log's partitions.
 */
export interface RemovedDay {
  day: string;
  rows: number;
}

/**
 * A DROP waits for the log's readers and writers to finish, and collections wait behind the
 * waiting DROP: give up quickly and try again at the next run rather than stall the hot path.
 */
const LOCK_TIMEOUT = '500ms';

/** A partition of the log (a day or a folded month), identified by its table's oid (one dropped and made again is another table). */
export interface LogPartition {
  oid: string;
  partition: string;
  startsAt: Date;
  endsAt: Date;
}

/** The lowest and highest id of a partition (null: no rows), as text: ids are bigint. */
export interface LogPartitionIds {
  min: string | null;
  max: string | null;
}

// A partition's time range from its name: collection_log_YYYYMMDD is a day, collection_log_YYYYMM a month.
const PARTITIONS = `
  SELECT oid, partition,
         (CASE WHEN length(partition) = 23 THEN to_date(substr(partition, 16), 'YYYYMMDD') ELSE to_date(substr(partition, 16), 'YYYYMM') END)::timestamp
           AT TIME ZONE 'Europe/Brussels' AS starts_at,
         (CASE WHEN length(partition) = 23 THEN to_date(substr(partition, 16), 'YYYYMMDD') + 1 ELSE to_date(substr(partition, 16), 'YYYYMM') + interval '1 month' END)::timestamp
           AT TIME ZONE 'Europe/Brussels' AS ends_at
    FROM (SELECT inhrelid::text AS oid, inhrelid::regclass::text AS partition FROM pg_inherits WHERE inhparent = 'collection_log'::regclass) p
   WHERE partition ~ '^collection_log_[0-9]{6}([0-9]{2})?$'`;

/** The day and month partitions, newest first, and the highest id waiting in the default partition (normally none). */
export async function listLogPartitions(client: pg.ClientBase): Promise<{ partitions: LogPartition[]; defaultMaxId: string | null }> {
  // From pg_inherits by parent, each name from its oid: the collection_log_days view starts from
  // pg_class by name, which the planner (with pg_class statistics from before the partitions
  // existed) joined row by row to all of pg_inherits: 94 ms a read for a year, 5 ms this way.
  const { rows } = await client.query<{ oid: string; partition: string; starts_at: Date; ends_at: Date }>(`${PARTITIONS} ORDER BY starts_at DESC`);
  const { rows: stray } = await client.query<{ max: string | null }>('SELECT max(id)::text AS max FROM collection_log_default');
  return {
    partitions: rows.map((r) => ({ oid: r.oid, partition: r.partition, startsAt: r.starts_at, endsAt: r.ends_at })),
    defaultMaxId: stray[0].max,
  };
}

/** The id bounds of each of `partitions`, in one statement (each an index probe at both ends of its primary key). */
export async function logPartitionIds(client: pg.ClientBase, partitions: LogPartition[]): Promise<Map<string, LogPartitionIds>> {
  const bounds = new Map<string, LogPartitionIds>();
  if (partitions.length === 0) return bounds;
  const { rows } = await client.query<{ oid: string; min: string | null; max: string | null }>(
    partitions
      .map((d) => `SELECT ${Number(d.oid)}::text AS oid, min(id)::text AS min, max(id)::text AS max FROM ${client.escapeIdentifier(d.partition)}`)
      .join(' UNION ALL '),
  );
  for (const r of rows) bounds.set(r.oid, { min: r.min, max: r.max });
  return bounds;
}

/** The partitions of `from` and of the `daysAhead` days after it (idempotent). */
export async function ensureLogDays(client: pg.ClientBase, from: string, daysAhead: number): Promise<void> {
  await client.query('SELECT hsmp_collection_log_day($1::date + n) FROM generate_series(0, $2::int) n', [from, daysAhead]);
}

/**
 * Removes the rows of every Brussels day that ended at or before `cutoff`: drops the day and
 * month partitions wholly before it, deletes the expired days' rows from the month partition
 * that straddles it, and the rows before it that wait in the default partition (normally none).
 * Call inside a transaction: the counts are those of the rows removed, per day.
 */
export async function removeLogBefore(client: pg.ClientBase, cutoff: Date): Promise<{ days: RemovedDay[]; strayRows: number }> {
  await client.query(`SELECT set_config('lock_timeout', $1, true)`, [LOCK_TIMEOUT]);
  // Rows before the boundary: the Brussels days that ended at or before the cutoff.
  const cutoffDay = brusselsDay(cutoff);
  const boundary = brusselsMidnight(cutoffDay);
  const { rows: old } = await client.query<{ partition: string; whole: boolean }>(
    `SELECT partition, ends_at <= $1 AS whole FROM (${PARTITIONS}) p WHERE starts_at < $1 ORDER BY starts_at`,
    [boundary],
  );
  const perDay = `SELECT to_char((collected_at AT TIME ZONE 'Europe/Brussels')::date, 'YYYY-MM-DD') AS day, count(*)::int AS rows`;
  const days: RemovedDay[] = [];
  for (const { partition, whole } of old) {
    const ident = client.escapeIdentifier(partition);
    if (whole) {
      const { rows } = await client.query<RemovedDay>(`${perDay} FROM ${ident} GROUP BY 1 ORDER BY 1`);
      await client.query(`DROP TABLE ${ident}`);
      days.push(...(rows.length > 0 ? rows : partition.length === 23 ? [{ day: dayOfPartition(partition), rows: 0 }] : []));
    } else {
      const { rows } = await client.query<RemovedDay>(
        `WITH gone AS (DELETE FROM ${ident} WHERE collected_at < $1 RETURNING collected_at) ${perDay} FROM gone GROUP BY 1 ORDER BY 1`,
        [boundary],
      );
      days.push(...rows);
    }
  }
  const stray = await client.query('DELETE FROM collection_log_default WHERE collected_at < $1', [boundary]);
  await client.query('DELETE FROM collection_log_sealed_day WHERE day < $1::date', [cutoffDay]);
  return { days, strayRows: stray.rowCount ?? 0 };
}

/**
 * A day of a folded month (migrations/013): the lowest and highest id of its rows when the month
 * was folded (null: it had none), and the month's highest id then; a row of the month written
 * later has an id above that. Undefined for a day whose month is not folded.
 */
export interface SealedDayIds {
  minId: string | null;
  maxId: string | null;
  monthMaxId: string;
}

export async function sealedDayIds(client: pg.ClientBase, day: string): Promise<SealedDayIds | undefined> {
  const { rows } = await client.query<{ min_id: string | null; max_id: string | null; month_max_id: string }>(
    'SELECT min_id::text, max_id::text, month_max_id::text FROM collection_log_sealed_day WHERE day = $1::date',
    [day],
  );
  return rows.length === 0 ? undefined : { minId: rows[0].min_id, maxId: rows[0].max_id, monthMaxId: rows[0].month_max_id };
}

const dayOfPartition = (partition: string) => `${partition.slice(15, 19)}-${partition.slice(19, 21)}-${partition.slice(21, 23)}`;

/**
 * Folds the oldest sealed month that still has day partitions (one that ended at or before
 * `sealedBefore`, and a day before the database's clock: a service clock set ahead never folds
 * the month being written, whose days the fold locks) into one partition. Returns its first day
 * and the rows moved, or undefined when no month waits. Call inside a transaction and commit at
 * once: the last step locks the log.
 */
export async function foldOldestSealedMonth(client: pg.ClientBase, sealedBefore: Date): Promise<{ month: string; rows: number } | undefined> {
  await client.query(`SELECT set_config('lock_timeout', $1, true)`, [LOCK_TIMEOUT]);
  const { rows } = await client.query<{ month: string }>(
    `SELECT to_char(date_trunc('month', starts_at AT TIME ZONE 'Europe/Brussels'), 'YYYY-MM-DD') AS month
       FROM (${PARTITIONS}) p
      WHERE length(partition) = 23
        AND (date_trunc('month', starts_at AT TIME ZONE 'Europe/Brussels') + interval '1 month') AT TIME ZONE 'Europe/Brussels'
            <= least($1::timestamptz, now() - interval '1 day')
      ORDER BY starts_at LIMIT 1`,
    [sealedBefore],
  );
  if (rows.length === 0) return undefined;
  const { rows: folded } = await client.query<{ rows: string | null }>('SELECT hsmp_collection_log_fold_month($1::date) AS rows', [rows[0].month]);
  return { month: rows[0].month, rows: Number(folded[0].rows ?? 0) };
}
