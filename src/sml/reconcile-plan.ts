import type { Environment } from '../domain/environment';
import { ServiceError } from '../domain/errors';

/**
 * What a reconciliation decides, without I/O (SPEC §9): a prepared key's enterprise that the
 * SML no longer lists under this SMP has migrated; but a listing that would mark more than
 * `maxShare` at once is refused unless forced (an empty or broken listing must not migrate
 * everyone). The share is judged over a window of hours, not one run: a listing that loses a
 * few per cent an hour adds up. Marks an operator forced are not held against later runs.
 */
export interface ShareRule {
  maxShare: number;
  windowHours: number;
  force: boolean;
}

export interface ShareDecision {
  refused: boolean;
  /** Marked by unforced runs within the window, before this one. */
  windowMarked: number;
  /** (windowMarked + missing) / (prepared + windowMarked): the share the window would lose. */
  share: number;
}

/** The listed participants, as a membership test (the listing's bit set). */
export interface ListedParticipants {
  has(enterpriseNumber: string): boolean;
}

export class ReconcilePlan {
  prepared = 0;
  missing = 0;

  constructor(private readonly listed: ListedParticipants) {}

  /** Takes the next candidates (active, key prepared before the listing began); returns those no longer listed. */
  consider(candidates: readonly string[]): string[] {
    const missing = candidates.filter((number) => !this.listed.has(number));
    this.prepared += candidates.length;
    this.missing += missing.length;
    return missing;
  }

  decide(rule: ShareRule, windowMarked: number): ShareDecision {
    return decideShare({ prepared: this.prepared, missing: this.missing, windowMarked }, rule);
  }
}

export function decideShare(counts: { prepared: number; missing: number; windowMarked: number }, rule: ShareRule): ShareDecision {
  const lost = counts.windowMarked + counts.missing;
  const base = counts.prepared + counts.windowMarked;
  const share = base === 0 ? 0 : lost / base;
  return { refused: !rule.force && counts.missing > 0 && lost > rule.maxShare * base, windowMarked: counts.windowMarked, share };
}

export interface ReconcileSummary {
  environment: Environment;
  /** Participants the SML listed under this SMP, and the pages it took. */
  listed: number;
  pages: number;
  /** Active enterprises whose key was prepared before the listing began. */
  prepared: number;
  /** Of those, the ones the listing no longer shows: migrated now (or refused). */
  missing: number;
  marked: number;
  forced: boolean;
  /** The safety valve's window: hours, and what unforced runs marked in it before this one. */
  window: { hours: number; marked: number };
  startedAt: string;
  finishedAt: string;
}

export class ReconcileRefused extends ServiceError {
  constructor(summary: ReconcileSummary, rule: ShareRule, decision: ShareDecision) {
    const { missing, prepared, window } = summary;
    const percent = (100 * decision.share).toFixed(1);
    const windowed =
      window.marked > 0
        ? `; with the ${window.marked} marked in the last ${window.hours} h that is ${window.marked + missing} of ${prepared + window.marked} (${percent} %)`
        : ` (${percent} %)`;
    super(
      'reconcile-refused',
      409,
      `reconciliation of ${summary.environment} refused: it would mark ${missing} of ${prepared} prepared keys migrated${windowed}, more than HSMP_SML_RECONCILE_MAX_SHARE (${rule.maxShare}) within ${rule.windowHours} h; check the SML listing, or force it; nothing was changed`,
      { details: { summary, maxShare: rule.maxShare } },
    );
  }
}
