import type pg from 'pg';
import { brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { parseParticipantId } from '../participants/participant-id';
import type { DayUsage } from '../quota';

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
  const [start, end] = dayRange(day);
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

function dayRange(asked: string | undefined): [Date | null, Date | null] {
  if (!asked) return [null, null];
  const start = brusselsMidnight(asked);
  return [start, nextBrusselsMidnight(start)];
}
