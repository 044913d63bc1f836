import type pg from 'pg';
import { brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { parseParticipantId } from '../participants/participant-id';

/** Pages of the audit log and the collection log, newest first, paged by id. */
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

export async function auditPage(pool: pg.Pool, q: LogQuery): Promise<LogPage> {
  const { rows } = await pool.query<Record<string, unknown> & { id: string }>(
    `SELECT id, at, operator, action, target, reason, details FROM audit_log
      WHERE ($1::text IS NULL OR operator = $1) AND ($2::timestamptz IS NULL OR (at >= $2 AND at < $3)) AND ($4::bigint IS NULL OR id < $4)
      ORDER BY id DESC LIMIT $5`,
    [q.operator ?? null, ...dayRange(q.day), q.before ?? null, q.limit],
  );
  return page(rows, q.limit);
}

export async function collectionPage(pool: pg.Pool, q: LogQuery): Promise<LogPage> {
  const participant = q.participant ? (parseParticipantId(q.participant)?.enterpriseNumber ?? q.participant) : null;
  const { rows } = await pool.query<Record<string, unknown> & { id: string }>(
    `SELECT id, request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome
       FROM collection_log
      WHERE ($1::text IS NULL OR seat_id = $1) AND ($2::text IS NULL OR enterprise_number = $2 OR participant = $2)
        AND ($3::timestamptz IS NULL OR (collected_at >= $3 AND collected_at < $4)) AND ($5::bigint IS NULL OR id < $5)
      ORDER BY id DESC LIMIT $6`,
    [q.seatId ?? null, participant, ...dayRange(q.day), q.before ?? null, q.limit],
  );
  return page(rows, q.limit);
}

function page(rows: Array<Record<string, unknown> & { id: string }>, limit: number): LogPage {
  return { entries: rows, next: rows.length === limit ? rows[rows.length - 1].id : null };
}

function dayRange(asked: string | undefined): [Date | null, Date | null] {
  if (!asked) return [null, null];
  const start = brusselsMidnight(asked);
  return [start, nextBrusselsMidnight(start)];
}

/** Collections per hour and outcome since a time: the console's chart. Uses the index on collected_at. */
export async function collectionsPerHour(pool: pg.Pool, since: Date): Promise<Array<{ hour: Date; outcome: string; count: number }>> {
  const { rows } = await pool.query<{ hour: Date; outcome: string; count: number }>(
    `SELECT date_trunc('hour', collected_at) AS hour, outcome, count(*)::int AS count
       FROM collection_log WHERE collected_at >= $1 GROUP BY 1, 2 ORDER BY 1`,
    [since],
  );
  return rows;
}
