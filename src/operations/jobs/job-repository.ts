import type pg from 'pg';

/** The `job` table's SQL, here and nowhere else (migration 009). */
export const JOB_KINDS = ['import-kbo', 'sml-reconcile', 'sml-prepare'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobState = 'running' | 'succeeded' | 'failed' | 'abandoned';

/** What went wrong, as the admin API's problems say it: a code, a status, a sentence, and details. */
export interface JobProblem {
  code: string;
  status: number;
  detail: string;
  [detail: string]: unknown;
}

/** A job as operators see it (admin API, `hsmp-admin jobs`, the console). */
export interface JobView {
  id: string;
  kind: JobKind;
  state: JobState;
  operator: string;
  reason: string | null;
  input: unknown;
  progress: unknown;
  result: unknown;
  problem: JobProblem | null;
  instance: string;
  revision: number;
  startedAt: string;
  heartbeatAt: string;
  finishedAt: string | null;
}

export interface JobClaim {
  kind: JobKind;
  operator: string;
  reason?: string;
  input: unknown;
  instance: string;
  leaseSeconds: number;
  /** Jobs of this instance that are alive whatever their lease says (their heartbeat may be queued). */
  aliveHere: string[];
}

/** The row behind a JobView: the same members, with the times as the driver returns them. */
type JobRow = Omit<JobView, 'startedAt' | 'heartbeatAt' | 'finishedAt'> & { started_at: Date; heartbeat_at: Date; finished_at: Date | null };

const COLUMNS = 'id, kind, state, operator, reason, input, progress, result, problem, instance, revision, started_at, heartbeat_at, finished_at';
/** As stored, except that a running job whose lease ran out is shown as what it is: abandoned. */
const SHOWN = `id, kind, CASE WHEN state = 'running' AND lease_until < now() THEN 'abandoned' ELSE state END AS state,
  operator, reason, input, progress, result, problem, instance, revision, started_at, heartbeat_at, finished_at`;

function view(row: JobRow): JobView {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    operator: row.operator,
    reason: row.reason,
    input: row.input,
    progress: row.progress,
    result: row.result,
    problem: row.problem,
    instance: row.instance,
    revision: row.revision,
    startedAt: row.started_at.toISOString(),
    heartbeatAt: row.heartbeat_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

/**
 * Claims the one running slot of `kind`: a running job whose lease ran out (its instance died)
 * is marked abandoned first. Returns the new job, or the job that holds the slot. The partial
 * unique index decides between instances claiming at the same moment.
 */
export async function claimJob(pool: pg.Pool, claim: JobClaim): Promise<{ claimed: JobView } | { running: JobView }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `UPDATE job SET state = 'abandoned', finished_at = now(), revision = revision + 1,
              problem = jsonb_build_object('code', 'job-abandoned', 'status', 503,
                'detail', 'the instance running this job stopped renewing its lease (it died or lost the database); start the job again')
        WHERE kind = $1 AND state = 'running' AND lease_until < now() AND NOT (id = ANY($2::bigint[]))`,
      [claim.kind, claim.aliveHere],
    );
    const { rows } = await client.query<JobRow>(
      `INSERT INTO job (kind, operator, reason, input, instance, lease_until)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       ON CONFLICT (kind) WHERE state = 'running' DO NOTHING
       RETURNING ${COLUMNS}`,
      [claim.kind, claim.operator, claim.reason ?? null, JSON.stringify(claim.input), claim.instance, claim.leaseSeconds],
    );
    let outcome: { claimed: JobView } | { running: JobView };
    if (rows.length > 0) outcome = { claimed: view(rows[0]) };
    else {
      const running = await client.query<JobRow>(`SELECT ${COLUMNS} FROM job WHERE kind = $1 AND state = 'running'`, [claim.kind]);
      // Finished between the insert and this read: the caller may simply try again.
      if (running.rows.length === 0) throw new Error('job slot changed hands while claiming');
      outcome = { running: view(running.rows[0]) };
    }
    await client.query('COMMIT');
    return outcome;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Renews the lease (and stores the progress); false when the job is no longer this instance's. */
export async function renewJob(pool: pg.Pool, id: string, instance: string, progress: unknown, leaseSeconds: number, revision: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE job SET progress = $3, heartbeat_at = now(), lease_until = now() + make_interval(secs => $4), revision = greatest(revision + 1, $5)
      WHERE id = $1 AND instance = $2 AND state = 'running'`,
    [id, instance, JSON.stringify(progress), leaseSeconds, revision],
  );
  return rowCount === 1;
}

export type JobEnd = { state: 'succeeded'; result: unknown; progress: unknown } | { state: 'failed'; problem: JobProblem; progress: unknown };

export async function finishJob(
  pool: pg.Pool,
  id: string,
  instance: string,
  end: JobEnd,
  /** The revision followers have seen, so that the end comes after it. */
  knownRevision: number,
): Promise<JobView | undefined> {
  const { rows } = await pool.query<JobRow>(
    `UPDATE job SET state = $3, result = $4, problem = $5, progress = $6, finished_at = now(), heartbeat_at = now(), revision = greatest(revision, $7) + 1
      WHERE id = $1 AND instance = $2 AND state = 'running'
      RETURNING ${COLUMNS}`,
    [
      id,
      instance,
      end.state,
      end.state === 'succeeded' ? JSON.stringify(end.result ?? null) : null,
      end.state === 'failed' ? JSON.stringify(end.problem) : null,
      JSON.stringify(end.progress),
      knownRevision,
    ],
  );
  return rows[0] ? view(rows[0]) : undefined;
}

export async function readJob(pool: pg.Pool, id: string): Promise<JobView | undefined> {
  const { rows } = await pool.query<JobRow>(`SELECT ${SHOWN} FROM job WHERE id = $1`, [id]);
  return rows[0] ? view(rows[0]) : undefined;
}

/** Running jobs first, then the most recent ones. */
export async function listJobs(pool: pg.Pool, limit: number): Promise<JobView[]> {
  const { rows } = await pool.query<JobRow>(
    `SELECT * FROM (
       (SELECT ${SHOWN} FROM job WHERE state = 'running')
       UNION ALL
       (SELECT ${SHOWN} FROM job WHERE state <> 'running' ORDER BY id DESC LIMIT $1)
     ) j ORDER BY state = 'running' DESC, id DESC`,
    [limit],
  );
  return rows.map(view);
}
