import type { CollectionContext } from '../domain/collection-context';
import type { Environment } from '../domain/environment';
import type { MigrationRecord } from '../domain/migration-record';
import type { BelgianParticipant } from '../domain/participant';
import type { CollectedKey, ParticipantRegistry } from './registry';

/**
 * What the SML adds before a key leaves (SPEC §9). Absent with HSMP_SML=off: another system
 * prepares the keys, so a key leaves as the registry hands it out and no SML code runs.
 */
export interface SmlPreparation {
  /** The key to answer for `collected`: first made known to the SML when it does not hold it yet, replaced when it is too old. */
  readyToHandOut(collected: CollectedKey, context: CollectionContext): Promise<MigrationRecord>;
}

/**
 * The public route's lookup: the registry hands out the participant's one key (issued on its
 * first collection), and the SML side, when there is one, readies it before it is answered.
 */
export class KeyIssuer {
  constructor(
    private readonly registry: Pick<ParticipantRegistry, 'collect' | 'recordAnswer'>,
    private readonly sml?: SmlPreparation,
  ) {}

  async issue(participant: BelgianParticipant, environment: Environment, context: CollectionContext): Promise<MigrationRecord> {
    const collected = await this.registry.collect(participant, environment, context);
    if (!this.sml) return collected.record;
    try {
      return await this.sml.readyToHandOut(collected, context);
    } catch (error) {
      // The row says SML-PENDING, or 200 for a rotation that failed: it gets the outcome this request is answered.
      this.registry.recordAnswer(context, environment, participant, error);
      throw error;
    }
  }
}
