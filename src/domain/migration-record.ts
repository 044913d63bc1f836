import type { BelgianParticipant } from './participant';
import type { Environment } from './environment';

/** The pair an access point collects (SPEC §2), with the environment it belongs to. */
export interface MigrationRecord {
  participant: BelgianParticipant;
  environment: Environment;
  migrationKey: string;
}
