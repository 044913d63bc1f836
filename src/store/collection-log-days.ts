import type pg from 'pg';

/**
 * The collection log's day partitions (migrations/008): created ahead of time, and dropped
 * whole once older than the retention (SPEC §5): a day's removal is a DROP TABLE of that day,
 * not a DELETE that scans the log. The only SQL on the log's partitions.
 */
export interface DroppedDay {
  day: string;
  rows: number;
}

/**
 * A DROP waits for the log's readers and writers to finish, and collections wait behind the
 * waiting DROP: give up quickly and try again at the next run rather than stall the hot path.
 */
const LOCK_TIMEOUT = '500ms';

/** The partitions of `from` and of the `daysAhead` days after it (idempotent). */
export async function ensureLogDays(client: pg.ClientBase, from: string, daysAhead: number): Promise<void> {
  await client.query('SELECT hsmp_collection_log_day($1::date + n) FROM generate_series(0, $2::int) n', [from, daysAhead]);
}

/**
 * Drops the day partitions that end at or before `cutoff`, and deletes the rows before it that
 * wait in the default partition (normally none). Call inside a transaction: the counts are
 * those of the rows removed.
 */
export async function dropLogDaysBefore(client: pg.ClientBase, cutoff: Date): Promise<{ days: DroppedDay[]; strayRows: number }> {
  await client.query(`SELECT set_config('lock_timeout', $1, true)`, [LOCK_TIMEOUT]);
  const { rows: old } = await client.query<{ partition: string; day: string }>(
    `SELECT partition, to_char(day, 'YYYY-MM-DD') AS day FROM collection_log_days WHERE ends_at <= $1 ORDER BY day`,
    [cutoff],
  );
  const days: DroppedDay[] = [];
  for (const { partition, day } of old) {
    const ident = client.escapeIdentifier(partition);
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${ident}`);
    await client.query(`DROP TABLE ${ident}`);
    days.push({ day, rows: Number(rows[0].n) });
  }
  const stray = await client.query('DELETE FROM collection_log_default WHERE collected_at < $1', [cutoff]);
  return { days, strayRows: stray.rowCount ?? 0 };
}
