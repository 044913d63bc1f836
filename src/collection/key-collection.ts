import type { AccessPoint } from '../domain/access-point';
import type { CollectionContext } from '../domain/collection-context';
import type { Environment } from '../domain/environment';
import { dependencyUnavailable, HsmpError } from '../domain/errors';
import type { MigrationRecord } from '../domain/migration-record';
import type { QuotaStatus } from '../domain/quota-status';
import type { KeyIssuer } from '../participants/key-issuer';
import { parseParticipantId } from '../participants/participant-id';
import type { RefusalLog } from '../participants/refusal-log';
import type { QuotaGuard } from '../quota/quota-guard';
import type { CertificateAuthenticator } from '../tls/authenticator';
import type { PresentedCertificate } from '../tls/presented-certificate';

/** Who asks, worked out once per request by the listener (trusted proxies included). */
export interface Caller {
  requestId: string;
  /** The client's address: the peer's, or the forwarded one when the peer is a trusted proxy. */
  address: string;
  certificate: PresentedCertificate;
}

export interface CollectionRequest {
  caller: Caller;
  rawParticipantId: string;
  /** The environment asked for, or the deployment's default when none was asked. */
  requestedEnvironment: string;
}

export interface CollectionOutcome {
  accessPoint?: AccessPoint;
  quota?: QuotaStatus;
  record?: MigrationRecord;
  error?: unknown;
}

/** What a collection is made of; narrow, so that the order is testable without servers. */
export interface CollectionParts {
  authenticator: Pick<CertificateAuthenticator, 'authenticate'>;
  /** Refuses with 811/813/812 when a block is in force or this query exceeds a limit; else counts it, and says how to give it back. */
  quota: Pick<QuotaGuard, 'admit'>;
  /** Refuses with 001/012/013, or returns the key; records the collection either way. */
  issuer: Pick<KeyIssuer, 'issue'>;
  /** Records a refusal decided before the lookup (811/813/812, 010, 001); false when it cannot. */
  refusals: Pick<RefusalLog, 'offer'>;
  servedEnvironments: readonly Environment[];
  /** The service's clock: a request's arrival time, which names its collection-log row and day. */
  now: () => Date;
}

/**
 * The collection of a migration key, built once per service: the order of SPEC §2, and nothing
 * else, i.e. which step answers first.
 *
 *   certificate checks 802 803 804 805 808 806 807
 *   → blocks in force 811 813 812, then the query is counted
 *   → 010 environment, 001 participant, 012 / 013 / 200 lookup
 */
export class KeyCollection {
  constructor(private readonly parts: CollectionParts) {}

  async collect(request: CollectionRequest): Promise<CollectionOutcome> {
    const { caller } = request;
    const requestedAt = this.parts.now();
    const outcome: CollectionOutcome = {};
    try {
      const requested = request.requestedEnvironment.toLowerCase();
      const accessPoint = (outcome.accessPoint = await this.parts.authenticator.authenticate(caller.certificate, requested));
      const admission = await this.parts.quota.admit(accessPoint, caller.address);
      outcome.quota = admission.quota;
      const context: CollectionContext = {
        requestId: caller.requestId,
        requestedAt,
        seatId: accessPoint.seatId,
        fingerprint: accessPoint.fingerprint,
        clientIp: caller.address,
      };
      const refuse = (error: HsmpError) => {
        const participant = error.participantId ?? request.rawParticipantId;
        const recorded = this.parts.refusals.offer({ context, environment: request.requestedEnvironment, participant, outcome: error.code });
        return recorded ? error : dependencyUnavailable('collection log');
      };
      if (admission.refusal) throw refuse(admission.refusal);
      try {
        const environment = this.parts.servedEnvironments.find((e) => e === requested);
        if (!environment) throw refuse(new HsmpError('HSMP-010'));
        const participant = parseParticipantId(request.rawParticipantId);
        if (!participant) throw refuse(new HsmpError('HSMP-001', { participantId: request.rawParticipantId }));
        outcome.record = await this.parts.issuer.issue(participant, environment, context);
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
}

function isServerError(error: unknown): boolean {
  return !(error instanceof HsmpError) || error.status >= 500;
}
