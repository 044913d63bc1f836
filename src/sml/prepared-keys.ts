import type { MigrationRecord } from '../domain/migration-record';
import type { Environment } from '../domain/environment';
import { HsmpError } from '../domain/errors';
import type { CollectionContext } from '../domain/collection-context';
import type { SmlPreparation } from '../participants/key-issuer';
import type { CollectedKey, ParticipantRegistry } from '../participants/registry';
import type { KeyRevocations } from './key-revocations';
import type { KeyPreparer } from './preparer';

export interface BulkPrepareProgress {
  environment: Environment;
  prepared: number;
  /** Participants the SML says are not this SMP's (left for reconciliation). */
  notOurs: number;
  /** Where the next batch starts (enterprise-number order); absent when the end was reached. */
  next?: string;
}

/** How long a key may stay out, and who replaces it. */
export interface KeyLifetime {
  /** Replaces keys and repairs the SML after a race with a replacement. */
  revocations?: KeyRevocations;
  /** HSMP_KEY_MAX_AGE_DAYS: a key first handed out longer ago is replaced at its next collection; 0: never. */
  maxAgeDays: number;
  now: () => Date;
}

const DAY_MS = 86_400_000;

/**
 * Keys that leave only once the SML holds them (SPEC §9), the SML side of a collection: a key
 * the SML does not hold yet is prepared first (single flight), then marked, then answered; a key
 * first handed out too long ago is replaced. `prepareBatch` prepares ahead of collections.
 */
export class PreparedKeys implements SmlPreparation {
  constructor(
    private readonly registry: ParticipantRegistry,
    private readonly preparer: KeyPreparer,
    private readonly lifetime: KeyLifetime = { maxAgeDays: 0, now: () => new Date() },
  ) {}

  async readyToHandOut({ record, prepared, firstHandedOutAt }: CollectedKey, context: CollectionContext): Promise<MigrationRecord> {
    if (!prepared) return this.prepareFirst(record, context);
    if (firstHandedOutAt && this.tooOld(firstHandedOutAt)) return this.rotate(record, firstHandedOutAt, context);
    return record;
  }

  private async prepareFirst(record: MigrationRecord, context: CollectionContext): Promise<MigrationRecord> {
    await this.preparer.prepare(record.participant, record.environment, record.migrationKey);
    if (await this.registry.markPrepared(record, context)) return record;
    // A revocation replaced the key while this SML call was out, which may have landed after the
    // revocation's: the SML must hold the participant's key again before anything is answered.
    const revocations = this.lifetime.revocations;
    if (!revocations) throw new Error(`the ${record.environment} key of ${record.participant.value} changed while it was prepared`);
    return revocations.resync(record.participant, record.environment);
  }

  private tooOld(firstHandedOutAt: Date): boolean {
    const { maxAgeDays, now } = this.lifetime;
    return maxAgeDays > 0 && now().getTime() - firstHandedOutAt.getTime() > maxAgeDays * DAY_MS;
  }

  /** Rotation by age (SPEC §9): the key is revoked as an operator would, and this collection hands out the new one. */
  private async rotate(record: MigrationRecord, firstHandedOutAt: Date, context: CollectionContext): Promise<MigrationRecord> {
    const revocations = this.lifetime.revocations;
    if (!revocations) return record;
    const outcome = await revocations.revoke(record.participant, record.environment, {
      operator: 'key-rotation',
      reason: `first handed out ${firstHandedOutAt.toISOString()}, more than HSMP_KEY_MAX_AGE_DAYS (${this.lifetime.maxAgeDays}) days ago`,
      onlyKey: this.registry.digestOf(record.migrationKey),
      requestId: context.requestId,
    });
    return outcome.record;
  }

  /**
   * One batch of `hsmp-admin sml prepare`: up to `limit` active enterprises after `after` whose
   * key the SML does not hold, `concurrency` SML calls at a time. Safe beside live traffic: a
   * collection of the same participant gets the same key and shares the SML call. Resumable:
   * what is prepared stays prepared, and the next run skips it. SML trouble ends the batch with
   * the 503 a collection would get; what was prepared before it stays prepared.
   */
  async prepareBatch(environment: Environment, after: string, limit: number, concurrency = 4): Promise<BulkPrepareProgress> {
    const preparer = this.preparer;
    const { keys, next } = await this.registry.keysToPrepare(environment, after, limit);
    const progress: BulkPrepareProgress = { environment, prepared: 0, notOurs: 0 };
    let nextIndex = 0;
    const worker = async () => {
      while (nextIndex < keys.length) {
        const record = keys[nextIndex++];
        try {
          await preparer.prepare(record.participant, environment, record.migrationKey);
        } catch (error) {
          if (error instanceof HsmpError && error.code === 'HSMP-013') {
            progress.notOurs++;
            continue;
          }
          nextIndex = keys.length;
          throw error;
        }
        if (!(await this.registry.markPrepared(record, undefined))) await this.lifetime.revocations?.resync(record.participant, environment);
        progress.prepared++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    return next === undefined ? progress : { ...progress, next };
  }
}
