import type pg from 'pg';
import { audited } from '../operations/audit';
import type { Environment } from '../domain/environment';
import { ServiceError } from '../domain/errors';
import { EnterpriseNumberSet } from '../domain/enterprise-number-set';
import type { Logger } from '../log';
import { parseParticipantId } from '../participants/participant-id';
import { markMigratedByReconciliation } from '../participants/participant-migrations';
import type { Database } from '../store/database';
import { classifySmlError, type SmlHealth } from './preparer';
import type { SmlClient } from './client';

/**
 * Reconciliation (SPEC §9): an SML never tells the old SMP that a participant left. hsmp reads
 * its participants from the SML (List, paged) and marks migrated (HSMP-013) in that environment,
 * and only there, every active enterprise whose key there was prepared before the listing began
 * and that the listing no longer shows. Keys prepared after the listing began are left alone: the listing cannot know them.
 *
 * A listing that would mark more than `maxShare` of the prepared keys at once is refused
 * unless forced: an empty or truncated listing must not migrate everyone.
 */
export interface ReconcileSummary {
  environment: Environment;
  /** Participants the SML listed under this SMP (pages read). */
  listed: number;
  pages: number;
  /** Active enterprises whose key was prepared before the listing began. */
  prepared: number;
  /** Of those, the ones the listing no longer shows: migrated now (or refused). */
  missing: number;
  marked: number;
  forced: boolean;
  startedAt: string;
  finishedAt: string;
}

export class ReconcileRefused extends ServiceError {
  constructor(
    readonly summary: ReconcileSummary,
    maxShare: number,
  ) {
    super(
      'reconcile-refused',
      409,
      `reconciliation of ${summary.environment} refused: it would mark ${summary.missing} of ${summary.prepared} prepared keys migrated, more than HSMP_SML_RECONCILE_MAX_SHARE (${maxShare}); check the SML listing, or force it; nothing was changed`,
      { details: { summary } },
    );
  }
}

export class ReconcileBusy extends ServiceError {
  constructor(environment: Environment) {
    super('reconcile-busy', 409, `a reconciliation of ${environment} is already running`);
  }
}

export interface ReconcileRequest {
  force?: boolean;
  operator: string;
  reason?: string;
  /** A scheduled run skips an environment reconciled less than this many seconds ago (by any instance). */
  skipIfReconciledWithinSeconds?: number;
}

/** Pages read at most in one listing: 10 000 pages of 1000 are five Belgiums. */
const MAX_PAGES = 10_000;
const CANDIDATE_PAGE = 50_000;
const LOCK_BASE = 0x534d4c00; // "SML\0" + environment

export class Reconciler {
  private readonly runningHere = new Set<Environment>();

  constructor(
    private readonly database: Database,
    private readonly clients: ReadonlyMap<Environment, SmlClient>,
    private readonly options: { smpId: string; maxShare: number; health: SmlHealth; logger: Logger },
  ) {}

  /** Undefined when a scheduled run found the environment freshly reconciled. */
  async reconcile(environment: Environment, request: ReconcileRequest): Promise<ReconcileSummary | undefined> {
    const client = this.clients.get(environment);
    if (!client) throw new Error(`no SML is configured for ${environment}`);
    if (this.runningHere.has(environment)) throw new ReconcileBusy(environment);
    this.runningHere.add(environment);
    try {
      return await this.withInstanceLock(environment, () => this.run(environment, client, request));
    } finally {
      this.runningHere.delete(environment);
    }
  }

  /**
   * One instance at a time per environment among those sharing the database: a PostgreSQL
   * advisory lock held on one pooled connection for the run. The embedded database belongs to
   * one process, whose own guard suffices, and has a single connection to give.
   */
  private async withInstanceLock<T>(environment: Environment, work: () => Promise<T>): Promise<T> {
    if (this.database.kind === 'embedded') return work();
    const lockId = LOCK_BASE + (environment === 'test' ? 1 : 2);
    const holder = await this.database.pool.connect();
    try {
      const { rows } = await holder.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [lockId]);
      if (!rows[0].locked) throw new ReconcileBusy(environment);
      try {
        return await work();
      } finally {
        await holder.query('SELECT pg_advisory_unlock($1)', [lockId]);
      }
    } finally {
      holder.release();
    }
  }

  private async run(environment: Environment, client: SmlClient, request: ReconcileRequest): Promise<ReconcileSummary | undefined> {
    const pool = this.database.pool;
    const { rows } = await pool.query<{ started_at: Date; fresh: boolean }>(
      `SELECT now() AS started_at,
              EXISTS (SELECT 1 FROM sml_reconciliation WHERE environment = $1 AND finished_at > now() - make_interval(secs => $2)) AS fresh`,
      [environment, request.skipIfReconciledWithinSeconds ?? 0],
    );
    if (request.skipIfReconciledWithinSeconds !== undefined && rows[0].fresh) return undefined;
    const startedAt = rows[0].started_at;

    const listed = new EnterpriseNumberSet();
    let listedCount = 0;
    let pages = 0;
    let next: string | undefined;
    do {
      let page;
      try {
        page = await client.list(this.options.smpId, next);
        this.options.health.answered(environment);
      } catch (error) {
        const trouble = classifySmlError(error);
        if (trouble !== 'not-ours') this.options.health.failed(environment, trouble, error);
        throw error;
      }
      pages++;
      for (const id of page.participants) {
        const participant = parseParticipantId(id);
        if (participant && id.startsWith('0208:') && listed.addOnce(participant.enterpriseNumber)) listedCount++;
      }
      if (page.nextPageIdentifier !== undefined && page.nextPageIdentifier === next) throw new Error(`the SML repeated page ${next}`);
      next = page.nextPageIdentifier;
      if (pages >= MAX_PAGES && next !== undefined) throw new Error(`the SML listing has more than ${MAX_PAGES} pages`);
    } while (next !== undefined);

    let prepared = 0;
    const missing: string[] = [];
    let after = '';
    for (;;) {
      const { rows: keys } = await pool.query<{ enterprise_number: string }>(
        `SELECT k.enterprise_number FROM migration_key k JOIN enterprise e ON e.enterprise_number = k.enterprise_number
          WHERE k.environment = $1 AND k.prepared_at < $2 AND e.status = 'active' AND k.enterprise_number > $3
            AND NOT EXISTS (SELECT 1 FROM participant_migration m WHERE m.enterprise_number = k.enterprise_number AND m.environment = $1)
          ORDER BY k.enterprise_number LIMIT $4`,
        [environment, startedAt, after, CANDIDATE_PAGE],
      );
      for (const { enterprise_number: number } of keys) {
        prepared++;
        if (!listed.has(number)) missing.push(number);
      }
      if (keys.length < CANDIDATE_PAGE) break;
      after = keys[keys.length - 1].enterprise_number;
    }

    const summary: ReconcileSummary = {
      environment,
      listed: listedCount,
      pages,
      prepared,
      missing: missing.length,
      marked: 0,
      forced: request.force === true,
      startedAt: startedAt.toISOString(),
      finishedAt: '',
    };
    const refused = missing.length > this.options.maxShare * prepared && !request.force;
    summary.marked = await audited(
      pool,
      {
        operator: request.operator,
        action: refused ? 'sml-reconcile-refused' : 'sml-reconcile',
        target: environment,
        reason: request.reason,
        details: { ...summary, maxShare: this.options.maxShare },
      },
      async (tx) => (refused ? 0 : this.apply(tx, environment, missing, startedAt)),
    );
    summary.finishedAt = new Date().toISOString();
    this.options.logger.info({ ...summary, refused }, 'SML reconciliation');
    if (refused) throw new ReconcileRefused(summary, this.options.maxShare);
    return summary;
  }

  private async apply(tx: pg.PoolClient, environment: Environment, missing: string[], startedAt: Date): Promise<number> {
    const marked = await markMigratedByReconciliation(tx, environment, missing, startedAt);
    await tx.query(
      `INSERT INTO sml_reconciliation (environment, finished_at, summary) VALUES ($1, now(), $2)
       ON CONFLICT (environment) DO UPDATE SET finished_at = EXCLUDED.finished_at, summary = EXCLUDED.summary`,
      [environment, JSON.stringify({ missing: missing.length, marked })],
    );
    return marked;
  }
}
