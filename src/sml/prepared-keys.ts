import type { MigrationRecord } from '../domain/migration-record';
import type { Environment } from '../domain/environment';
import { HsmpError } from '../domain/errors';
import type { BelgianParticipant } from '../participants/participant-id';
import type { CollectionContext, ParticipantRegistry } from '../participants/registry';
import type { KeyPreparer } from './preparer';

export interface BulkPrepareProgress {
  environment: Environment;
  prepared: number;
  /** Participants the SML says are not this SMP's (left for reconciliation). */
  notOurs: number;
  /** Where the next batch starts (enterprise-number order); absent when the end was reached. */
  next?: string;
}

/**
 * Keys that leave only once the SML holds them (SPEC §9). `collect` is the public route's
 * lookup: the registry hands out the participant's one key; a key the SML does not hold yet is
 * prepared first (single flight), then marked, then answered. Without a preparer (HSMP_SML=off)
 * every key counts as prepared by another system.
 */
export class PreparedKeys {
  constructor(
    private readonly registry: ParticipantRegistry,
    private readonly preparer: KeyPreparer | undefined,
  ) {}

  async collect(participant: BelgianParticipant, environment: Environment, context: CollectionContext): Promise<MigrationRecord> {
    const { record, prepared } = await this.registry.collect(participant, environment, context);
    if (prepared || !this.preparer) return record;
    try {
      await this.preparer.prepare(participant, environment, record.migrationKey);
      await this.registry.markPrepared(record, context);
    } catch (error) {
      // The row says SML-PENDING: it gets the outcome this request is answered.
      this.registry.recordAnswer(context, environment, participant, error);
      throw error;
    }
    return record;
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
    if (!preparer) throw new Error('HSMP_SML is off: keys are prepared by another system');
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
        await this.registry.markPrepared(record, undefined);
        progress.prepared++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    return next === undefined ? progress : { ...progress, next };
  }
}
