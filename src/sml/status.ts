import type { Environment } from '../domain/environment';
import type { SmlHealth } from './preparer';

/** What readiness and the metrics read of the SML side: absent with HSMP_SML=off. */
export interface SmlStatus {
  health: SmlHealth;
  environments: Environment[];
}
