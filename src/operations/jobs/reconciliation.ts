import type { Environment } from '../../domain/environment';
import type { Logger } from '../../log';
import type { SmlClient, SmlHealth } from '../../sml';
import { readListing, type ListingProgress } from '../../sml/listing';
import { ReconcilePlan, ReconcileRefused, type ReconcileSummary, type ShareRule } from '../../sml/reconcile-plan';
import { beginReconciliation, markedWithin, markMigrated, preparedBefore, recordRun, secondsSinceReconciled } from '../../sml/reconciliation-store';
import type { Database } from '../../store/database';
import { audited } from '../../store/audit-log';

/**
 * One reconciliation of one environment (SPEC §9), as a job runs it: the listing (SML), the
 * plan (pure: listed against prepared, the share rule over its window), then the store, in one
 * audited transaction that marks nothing when refused.
 */
export interface ReconciliationOptions {
  smpId: string;
  maxShare: number;
  windowHours: number;
  health: SmlHealth;
  logger: Logger;
  /** One List page's bytes at most. */
  maxPageBytes?: number;
}

export interface ReconcileRun {
  force: boolean;
  operator: string;
  reason?: string;
  jobId?: string;
  signal?: AbortSignal;
  onProgress?: (progress: ReconcileProgress) => void;
}

/** A reconciliation's counts without its changes: what `run` would mark now, or that it would be refused. */
export interface ReconcilePreview {
  environment: Environment;
  listed: number;
  pages: number;
  prepared: number;
  missing: number;
  /** The missing, unless the share rule would refuse the run (then 0). */
  wouldMark: number;
  refused: boolean;
  /** The share of prepared keys the window would lose, against maxShare. */
  share: number;
  maxShare: number;
  forced: boolean;
  window: { hours: number; marked: number };
}

export interface ReconcileProgress extends ListingProgress {
  environment: Environment;
  phase: 'listing' | 'judging' | 'marking';
}

/** Room beyond the enterprises hsmp holds for pages of participants of other schemes. */
const EXTRA_PAGES = 10_000;
const DEFAULT_MAX_PAGE_BYTES = 1024 * 1024;

export class Reconciliation {
  constructor(
    private readonly database: Database,
    private readonly clients: ReadonlyMap<Environment, SmlClient>,
    private readonly options: ReconciliationOptions,
  ) {}

  get environments(): Environment[] {
    return [...this.clients.keys()];
  }

  /** Whether `environment` was reconciled (by any instance) less than `seconds` ago. */
  async reconciledWithin(environment: Environment, seconds: number): Promise<boolean> {
    const since = await secondsSinceReconciled(this.database.pool, environment);
    return since !== undefined && since < seconds;
  }

  /**
   * What a run would do now, changing nothing (no mark, no record, no audit row): the same
   * listing and the same plan and share rule, with the counts the run would find.
   */
  async preview(environment: Environment, run: Omit<ReconcileRun, 'operator' | 'reason' | 'jobId'>): Promise<ReconcilePreview> {
    const { counts, plan, rule, decision } = await this.judge(environment, run);
    return {
      environment,
      ...counts,
      prepared: plan.prepared,
      missing: plan.missing,
      wouldMark: decision.refused ? 0 : plan.missing,
      refused: decision.refused,
      share: decision.share,
      maxShare: rule.maxShare,
      forced: run.force,
      window: { hours: rule.windowHours, marked: decision.windowMarked },
    };
  }

  /** The listing (SML) and the plan's judgement of the keys prepared before it began. */
  private async judge(environment: Environment, run: Pick<ReconcileRun, 'force' | 'signal' | 'onProgress'>) {
    const client = this.clients.get(environment);
    if (!client) throw new Error(`no SML is configured for ${environment}`);
    const pool = this.database.pool;
    const { startedAt, enterprises } = await beginReconciliation(pool);
    const report = (phase: ReconcileProgress['phase'], listing: ListingProgress) => run.onProgress?.({ environment, phase, ...listing });

    const listing = await readListing(client, {
      smpId: this.options.smpId,
      environment,
      health: this.options.health,
      maxPages: enterprises + EXTRA_PAGES,
      maxPageBytes: this.options.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES,
      signal: run.signal,
      onPage: (progress) => {
        report('listing', progress);
      },
    });
    const counts = { pages: listing.pages, listed: listing.listed };
    report('judging', counts);

    const plan = new ReconcilePlan(listing.participants);
    for await (const candidates of preparedBefore(pool, environment, startedAt)) plan.consider(candidates);
    const rule: ShareRule = { maxShare: this.options.maxShare, windowHours: this.options.windowHours, force: run.force };
    const decision = plan.decide(rule, await markedWithin(pool, environment, rule.windowHours));
    run.signal?.throwIfAborted();
    return { startedAt, listing, counts, plan, rule, decision, report };
  }

  async run(environment: Environment, run: ReconcileRun): Promise<ReconcileSummary> {
    const pool = this.database.pool;
    const { startedAt, listing, counts, plan, rule, decision, report } = await this.judge(environment, run);

    const summary: ReconcileSummary = {
      environment,
      ...counts,
      prepared: plan.prepared,
      missing: plan.missing,
      marked: 0,
      forced: run.force,
      window: { hours: rule.windowHours, marked: decision.windowMarked },
      startedAt: startedAt.toISOString(),
      finishedAt: '',
    };
    if (!decision.refused) report('marking', counts);
    // The audit row is written after the action, in its transaction: it records the counts the
    // action found (how many were marked, when it finished), not the empty ones it started with.
    const details = { ...summary, maxShare: rule.maxShare, job: run.jobId ?? null };
    await audited(
      pool,
      { operator: run.operator, action: decision.refused ? 'sml-reconcile-refused' : 'sml-reconcile', target: environment, reason: run.reason, details },
      async (tx) => {
        let marked = 0;
        if (!decision.refused) {
          // The same candidates again, in the transaction: only the missing are kept in memory, a page at a time.
          const again = new ReconcilePlan(listing.participants);
          for await (const candidates of preparedBefore(tx, environment, startedAt))
            marked += await markMigrated(tx, environment, again.consider(candidates), startedAt);
          await recordRun(tx, { environment, jobId: run.jobId, ...counts, prepared: plan.prepared, missing: plan.missing, marked, forced: run.force });
        }
        summary.marked = marked;
        summary.finishedAt = new Date().toISOString();
        Object.assign(details, summary);
        return marked;
      },
    );
    this.options.logger.info({ ...summary, refused: decision.refused }, 'SML reconciliation');
    if (decision.refused) throw new ReconcileRefused(summary, rule, decision);
    return summary;
  }
}
