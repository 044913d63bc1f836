import type { Environment } from '../domain/environment';
import { dependencyUnavailable, HsmpError } from '../domain/errors';
import type { MigrationRecord } from '../domain/migration-record';
import type { BelgianParticipant } from '../domain/participant';
import { parseParticipantId } from '../participants/participant-id';
import type { AccessPoint } from '../domain/access-point';
import type { QuotaStatus } from '../domain/quota-status';

/**
 * The order of SPEC §2, and nothing else: which step answers first. The steps themselves
 * (certificates, quotas, the database) are injected, so the order is testable without servers.
 *
 *   certificate checks 802 803 804 805 808 806 807
 *   → blocks in force 811 813 812, then the query is counted
 *   → 010 environment, 001 participant, 012 / 013 / 200 lookup
 */
export interface CollectionRequest {
  rawParticipantId: string;
  /** The environment asked for, or the deployment's default when none was asked. */
  requestedEnvironment: string;
}

export interface CollectionSteps {
  authenticate(requestedEnvironment: string): Promise<AccessPoint>;
  /**
   * Refuses with 811/813/812 when a block is in force or this query exceeds a limit; else counts
   * it, and says how to give it back.
   */
  admit(accessPoint: AccessPoint): Promise<{ quota: QuotaStatus; refusal?: HsmpError; release?: () => Promise<void> }>;
  servedEnvironments: readonly Environment[];
  /** Refuses with 001/012/013, or returns the key; records the collection either way. */
  lookup(accessPoint: AccessPoint, participant: BelgianParticipant, environment: Environment): Promise<MigrationRecord>;
  /** Records a refusal decided before the lookup (811/813/812, 010, 001); false when it cannot. */
  recordRefusal(accessPoint: AccessPoint, error: HsmpError, request: CollectionRequest): boolean;
}

export interface CollectionOutcome {
  accessPoint?: AccessPoint;
  quota?: QuotaStatus;
  record?: MigrationRecord;
  error?: unknown;
}

export async function collectMigrationKey(request: CollectionRequest, steps: CollectionSteps): Promise<CollectionOutcome> {
  const outcome: CollectionOutcome = {};
  try {
    const requested = request.requestedEnvironment.toLowerCase();
    const accessPoint = (outcome.accessPoint = await steps.authenticate(requested));
    const admission = await steps.admit(accessPoint);
    outcome.quota = admission.quota;
    const refuse = (error: HsmpError) => (steps.recordRefusal(accessPoint, error, request) ? error : dependencyUnavailable('collection log'));
    if (admission.refusal) throw refuse(admission.refusal);
    try {
      const environment = steps.servedEnvironments.find((e) => e === requested);
      if (!environment) throw refuse(new HsmpError('HSMP-010'));
      const participant = parseParticipantId(request.rawParticipantId);
      if (!participant) throw refuse(new HsmpError('HSMP-001', { participantId: request.rawParticipantId }));
      outcome.record = await steps.lookup(accessPoint, participant, environment);
    } catch (error) {
      // A 5xx answered nothing: the query is given back, so that retrying through an outage
      // never uses up a quota nor blacklists anyone (SPEC §2: nothing counted twice).
      if (admission.release && isServerError(error)) {
        await admission.release();
        outcome.quota = { ...admission.quota, remaining: admission.quota.remaining + 1 };
      }
      throw error;
    }
  } catch (error) {
    outcome.error = error;
  }
  return outcome;
}

function isServerError(error: unknown): boolean {
  return !(error instanceof HsmpError) || error.status >= 500;
}
