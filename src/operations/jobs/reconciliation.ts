import type { Environment } from '../../domain/environment';
import type { Logger } from '../../log';
import type { SmlClient, SmlHealth } from '../../sml';
import { readListing, type ListingProgress } from '../../sml/listing';
import { ReconcilePlan, ReconcileRefused, type ReconcileSummary, type ShareRule } from '../../sml/reconcile-plan';
import { beginReconciliation, markedWithin, markMigrated, preparedBefore, recordRun, secondsSinceReconciled } from '../../sml/reconciliation-store';
import type { Database } from '../../store/database';
import { audited } from '../audit';

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

  async run(environment: Environment, run: ReconcileRun): Promise<ReconcileSummary> {
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
    summary.marked = await audited(
      pool,
      {
        operator: run.operator,
        action: decision.refused ? 'sml-reconcile-refused' : 'sml-reconcile',
        target: environment,
        reason: run.reason,
        details: { ...summary, maxShare: rule.maxShare, job: run.jobId ?? null },
      },
      async (tx) => {
        if (decision.refused) return 0;
        // The same candidates again, in the transaction: only the missing are kept in memory, a page at a time.
        const again = new ReconcilePlan(listing.participants);
        let marked = 0;
        for await (const candidates of preparedBefore(tx, environment, startedAt))
          marked += await markMigrated(tx, environment, again.consider(candidates), startedAt);
        await recordRun(tx, { environment, jobId: run.jobId, ...counts, prepared: plan.prepared, missing: plan.missing, marked, forced: run.force });
        return marked;
      },
    );
    summary.finishedAt = new Date().toISOString();
    this.options.logger.info({ ...summary, refused: decision.refused }, 'SML reconciliation');
    if (decision.refused) throw new ReconcileRefused(summary, rule, decision);
    return summary;
  }
}
