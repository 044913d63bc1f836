import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Environment } from '../domain/environment';
import { AdminProblem, dependencyUnavailable, HsmpError } from '../domain/errors';
import type { MigrationRecord } from '../domain/migration-record';
import type { BelgianParticipant } from '../domain/participant';
import { generateMigrationKey } from '../participants/migration-key';
import type { HeldKey, ParticipantRegistry } from '../participants/registry';
import type { KeyPreparer } from './preparer';

/**
 * Revocation (SPEC §9): the SML keeps one key per participant and has no cancel, so a key that
 * leaked is made worthless by preparing a fresh random key in its place. The order is what makes
 * it safe: the fresh key is prepared at the SML first, and only once the SML accepted it does the
 * database replace the old key (with the audit row, in one transaction); SML trouble changes
 * nothing. One revocation of a participant runs at a time across instances (a lease on its key
 * row), so two revocations can never leave the SML holding one key and the database another.
 *
 * Only a key the SML holds can have been handed out: a key that is merely generated never left,
 * and collections never call the SML for a prepared key, so a revocation races no collection at
 * the SML; a collection that prepared a key which a revocation replaced meanwhile repairs the
 * SML (`resync`) before it answers.
 */
export class NothingToRevoke extends AdminProblem {
  constructor(message: string) {
    super('nothing-to-revoke', message);
  }
}

export class ParticipantNotOurs extends AdminProblem {
  constructor(participant: BelgianParticipant, environment: Environment) {
    super(
      'participant-not-ours',
      `the ${environment} SML says ${participant.value} is not this SMP's (migrated by another way): nothing to revoke; nothing was changed`,
    );
  }
}

export class KeyChangedDuringRevocation extends AdminProblem {
  constructor(participant: BelgianParticipant, environment: Environment) {
    super(
      'key-changed',
      `the ${environment} key of ${participant.value} was removed while it was being revoked (restored or reseeded): nothing was replaced; its next collection gets a fresh key`,
    );
  }
}

/** Writes the audit row of a revocation inside its transaction (the operations layer's `audited`). */
export type AuditedTransaction = <T>(
  entry: { operator: string; action: string; target: string; reason?: string; details?: unknown },
  work: (tx: pg.PoolClient) => Promise<T>,
) => Promise<T>;

export interface RevocationRequest {
  operator: string;
  reason?: string;
  /** A rotation replaces only this key: if another instance replaced it meanwhile, its key is the answer. */
  onlyKey?: Buffer;
  /** A rotation's collection: it hands the new key out at once, and it did not have the old one. */
  requestId?: string;
}

/** What a revocation did, without any key: what operators and the audit log see. */
export interface RevocationSummary {
  environment: Environment;
  /** Revocations of this participant's key in this environment so far, this one included. */
  revocations: number;
  revokedKey: {
    issuedAt: string;
    firstHandedOutAt: string | null;
    /** Who had it: collections answered 200 since it was issued, and their users (seat ids). */
    collections: number;
    users: string[];
  };
  newKeyPreparedAt: string;
}

export interface RevocationOutcome {
  /** The participant's key now, to hand out (a rotation); never shown to operators. */
  record: MigrationRecord;
  /** Absent when another revocation had already replaced the key asked for. */
  summary?: RevocationSummary;
}

export interface KeyRevocationsOptions {
  /** Bounds one SML call: the lease outlasts two of them. */
  smlTimeoutMs: number;
  audited: AuditedTransaction;
}

const LEASE_POLL_MS = 25;

export class KeyRevocations {
  /** In this process, one revocation per participant and environment at a time (the lease does it across instances). */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(
    private readonly registry: ParticipantRegistry,
    private readonly preparer: KeyPreparer,
    private readonly options: KeyRevocationsOptions,
  ) {}

  private get leaseMs(): number {
    return 2 * this.options.smlTimeoutMs + 5000;
  }

  revoke(participant: BelgianParticipant, environment: Environment, request: RevocationRequest): Promise<RevocationOutcome> {
    return this.oneAtATime(participant, environment, () => this.withLease(participant, environment, () => this.replace(participant, environment, request)));
  }

  /**
   * A collection prepared a key that was replaced while the SML call was out: its late
   * PrepareToMigrate may have overwritten the new key at the SML. Prepares the participant's key
   * again, under the lease, and returns it.
   */
  resync(participant: BelgianParticipant, environment: Environment): Promise<MigrationRecord> {
    return this.oneAtATime(participant, environment, () =>
      this.withLease(participant, environment, async () => {
        const held = await this.registry.keyOf(participant, environment);
        if (!held?.preparedAt) throw dependencyUnavailable('SML', new Error(`the ${environment} key of ${participant.value} changed while it was prepared`));
        await this.preparer.prepareAgain(participant, environment, held.record.migrationKey);
        return held.record;
      }),
    );
  }

  private async replace(participant: BelgianParticipant, environment: Environment, request: RevocationRequest): Promise<RevocationOutcome> {
    const held = await this.registry.keyOf(participant, environment);
    if (!held) throw new NothingToRevoke(`${participant.value} has no key in ${environment}: nothing to revoke`);
    if (request.onlyKey && !held.digest.equals(request.onlyKey)) return { record: held.record };
    if (held.migrated) throw new NothingToRevoke(`${participant.value} has migrated in ${environment}: its key is spent, nothing to revoke`);
    if (!held.preparedAt)
      throw new NothingToRevoke(`the ${environment} key of ${participant.value} was never handed out (the SML does not hold it yet): nothing to revoke`);

    const fresh: MigrationRecord = { participant, environment, migrationKey: generateMigrationKey() };
    try {
      await this.preparer.prepare(participant, environment, fresh.migrationKey);
    } catch (error) {
      if (error instanceof HsmpError && error.code === 'HSMP-013') throw new ParticipantNotOurs(participant, environment);
      throw error;
    }
    const handedOutNow = request.requestId !== undefined;
    const entry = {
      operator: request.operator,
      action: handedOutNow ? 'key-rotate' : 'key-revoke',
      target: `${participant.enterpriseNumber}/${environment}`,
      reason: request.reason,
    };
    const summary = await this.options.audited(entry, async (tx) => {
      const replaced = await this.registry.replaceKey(tx, held.digest, fresh, handedOutNow);
      if (!replaced) throw new KeyChangedDuringRevocation(participant, environment);
      const holders = await this.registry.collectorsSince(tx, participant, environment, held.createdAt, request.requestId);
      return describe(environment, held, holders, replaced);
    });
    return { record: fresh, summary };
  }

  private async withLease<T>(participant: BelgianParticipant, environment: Environment, work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.leaseMs;
    for (;;) {
      const lease = await this.registry.takeRevocationLease(participant, environment, this.leaseMs);
      if (lease === 'no-key') throw new NothingToRevoke(`${participant.value} has no key in ${environment}: nothing to revoke`);
      if (lease !== 'held') {
        try {
          return await work();
        } finally {
          await this.registry.releaseRevocationLease(participant, environment, lease);
        }
      }
      if (Date.now() > deadline)
        throw dependencyUnavailable('revocation lease', new Error(`another revocation of ${participant.value} in ${environment} is still running`));
      await sleep(LEASE_POLL_MS);
    }
  }

  private async oneAtATime<T>(participant: BelgianParticipant, environment: Environment, work: () => Promise<T>): Promise<T> {
    const flight = `${environment}/${participant.enterpriseNumber}`;
    const before = this.running.get(flight) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(work);
    this.running.set(flight, mine);
    try {
      return await mine;
    } finally {
      if (this.running.get(flight) === mine) this.running.delete(flight);
    }
  }
}

function describe(
  environment: Environment,
  revoked: HeldKey,
  holders: { collections: number; users: string[] },
  replaced: { revocations: number; preparedAt: Date },
): RevocationSummary {
  return {
    environment,
    revocations: replaced.revocations,
    revokedKey: {
      issuedAt: revoked.createdAt.toISOString(),
      firstHandedOutAt: revoked.firstHandedOutAt?.toISOString() ?? null,
      collections: holders.collections,
      users: holders.users,
    },
    newKeyPreparedAt: replaced.preparedAt.toISOString(),
  };
}
