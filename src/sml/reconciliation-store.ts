import type pg from 'pg';
import type { Environment } from '../domain/environment';
import { markMigratedByReconciliation } from '../participants/participant-migrations';
import type { ReconcileSummary } from './reconcile-plan';

/**
 * The reconciliation's SQL (SPEC §9): which keys it judges, what it marks, and the record of
 * each run that the safety valve's window reads (tables sml_reconciliation and
 * sml_reconciliation_run, migrations 005 and 009).
 */
type Queryable = Pick<pg.ClientBase, 'query'>;

/** Candidates read per statement: bounded memory, whatever the number of keys. */
const CANDIDATE_PAGE = 50_000;

export interface ReconciliationStart {
  /** The database's clock when the listing begins: keys prepared later are not judged. */
  startedAt: Date;
  /** Enterprises hsmp holds: what bounds an honest listing's pages. */
  enterprises: number;
}

export async function beginReconciliation(db: Queryable): Promise<ReconciliationStart> {
  const { rows } = await db.query<{ started_at: Date; enterprises: string }>('SELECT now() AS started_at, (SELECT count(*) FROM enterprise) AS enterprises');
  return { startedAt: rows[0].started_at, enterprises: Number(rows[0].enterprises) };
}

/** Seconds since the environment was last reconciled by any instance; undefined if never. */
export async function secondsSinceReconciled(db: Queryable, environment: Environment): Promise<number | undefined> {
  const { rows } = await db.query<{ seconds: number }>(
    'SELECT extract(epoch FROM now() - finished_at)::float8 AS seconds FROM sml_reconciliation WHERE environment = $1',
    [environment],
  );
  return rows[0]?.seconds;
}

/** Active enterprises not migrated in `environment` whose key there was prepared before `startedAt`, in pages, by number. */
export async function* preparedBefore(db: Queryable, environment: Environment, startedAt: Date): AsyncGenerator<string[]> {
  let after = '';
  for (;;) {
    const { rows } = await db.query<{ enterprise_number: string }>(
      // The cursor on every table: PostgreSQL does not carry it across a join, and its merge joins
      // otherwise read enterprise and participant_migration from their start on every page (1.1 s
      // a page half-way through 2 million enterprises, 1.5 ms with it).
      `SELECT k.enterprise_number FROM migration_key k JOIN enterprise e ON e.enterprise_number = k.enterprise_number
        WHERE k.environment = $1 AND k.prepared_at < $2 AND e.status = 'active' AND k.enterprise_number > $3 AND e.enterprise_number > $3
          AND NOT EXISTS (SELECT 1 FROM participant_migration m
                           WHERE m.enterprise_number = k.enterprise_number AND m.enterprise_number > $3 AND m.environment = $1)
        ORDER BY k.enterprise_number LIMIT $4`,
      [environment, startedAt, after, CANDIDATE_PAGE],
    );
    if (rows.length > 0) yield rows.map((r) => r.enterprise_number);
    if (rows.length < CANDIDATE_PAGE) return;
    after = rows[rows.length - 1].enterprise_number;
  }
}

/** Keys marked migrated by unforced runs of `environment` within the last `hours`. */
export async function markedWithin(db: Queryable, environment: Environment, hours: number): Promise<number> {
  const { rows } = await db.query<{ marked: string }>(
    `SELECT coalesce(sum(marked), 0) AS marked FROM sml_reconciliation_run
      WHERE environment = $1 AND NOT forced AND finished_at > now() - make_interval(hours => $2)`,
    [environment, hours],
  );
  return Number(rows[0].marked);
}

/**
 * Marks migrated in `environment`, and only there, the enterprises the listing no longer shows
 * (the participant-migrations store checks again: an operator's change or a newer key since the
 * listing began keeps the participant as it is).
 */
export function markMigrated(tx: pg.ClientBase, environment: Environment, numbers: string[], startedAt: Date): Promise<number> {
  return markMigratedByReconciliation(tx, environment, numbers, startedAt);
}

/** What one finished run leaves for the window: its counts, and the job it belonged to. */
export type ReconciliationRun = Pick<ReconcileSummary, 'environment' | 'listed' | 'pages' | 'prepared' | 'missing' | 'marked' | 'forced'> & { jobId?: string };

export async function recordRun(tx: Queryable, run: ReconciliationRun): Promise<void> {
  await tx.query(`INSERT INTO sml_reconciliation_run (environment, job_id, listed, pages, prepared, marked, forced) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
    run.environment,
    run.jobId ?? null,
    run.listed,
    run.pages,
    run.prepared,
    run.marked,
    run.forced,
  ]);
  await tx.query(
    `INSERT INTO sml_reconciliation (environment, finished_at, summary) VALUES ($1, now(), $2)
     ON CONFLICT (environment) DO UPDATE SET finished_at = EXCLUDED.finished_at, summary = EXCLUDED.summary`,
    [run.environment, JSON.stringify({ missing: run.missing, marked: run.marked })],
  );
}

/** Each environment's last finished reconciliation (by any instance), for operators. */
export async function lastReconciliations(db: Queryable): Promise<Array<{ environment: Environment; finishedAt: Date; missing: number; marked: number }>> {
  const { rows } = await db.query<{ environment: Environment; finished_at: Date; summary: { missing: number; marked: number } }>(
    'SELECT environment, finished_at, summary FROM sml_reconciliation ORDER BY environment',
  );
  return rows.map((r) => ({ environment: r.environment, finishedAt: r.finished_at, missing: r.summary.missing, marked: r.summary.marked }));
}
