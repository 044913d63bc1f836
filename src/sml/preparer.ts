import { SingleFlight } from '../batching/single-flight';
import type { Environment } from '../domain/environment';
import { dependencyUnavailable, HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { BelgianParticipant } from '../domain/participant';
import { SmlFault, type SmlClient } from './client';

/** BDMSL's error numbers that say something about this deployment or this participant. */
const ERR_SMP_NOT_FOUND = 100;
const ERR_UNAUTHORIZED = 101;
const ERR_CERTIFICATE = 102;
const ERR_KEY_RULE = 106;
const ERR_PARTICIPANT_NOT_FOUND = 110;
/** ~100 bytes an entry: a megabyte at most, far more than the keys one batch can race on. */
const RECENTLY_PREPARED_MAX = 10_000;

/**
 * What an SML answer means to hsmp, decided here and nowhere else (pure):
 * - `not-ours`: the SML says the participant is not this SMP's (migrated by another way) → 013;
 * - `deployment`: the SML does not accept this SMP (SMP id, certificate) → 503, /readyz, metric;
 * - `key-rule`: the SML refused a key hsmp generated → 503, an error: the generator is wrong;
 * - `unavailable`: anything else (down, slow, InternalError, nonsense) → 503, retried next time.
 */
export type SmlTrouble = 'not-ours' | 'deployment' | 'key-rule' | 'unavailable';

export function classifySmlError(error: unknown): SmlTrouble {
  if (!(error instanceof SmlFault)) return 'unavailable';
  if (error.errorNumber === ERR_PARTICIPANT_NOT_FOUND) return 'not-ours';
  if (error.errorNumber === ERR_KEY_RULE && error.kind === 'BadRequest') return 'key-rule';
  if (
    error.kind === 'Unauthorized' ||
    error.errorNumber === ERR_SMP_NOT_FOUND ||
    error.errorNumber === ERR_UNAUTHORIZED ||
    error.errorNumber === ERR_CERTIFICATE
  )
    return 'deployment';
  return 'unavailable';
}

export interface SmlHealthState {
  /** Whether the last call said this deployment is set up right; undefined before any call. */
  deploymentOk?: boolean;
  /** Whether the last call got an answer at all. */
  reachable?: boolean;
  lastProblem?: { at: string; trouble: SmlTrouble; message: string };
}

/**
 * What /readyz and the metrics say of each environment's SML. Problems are logged once per
 * change of state, not once per request: a dead SML under load must not flood the log.
 */
export class SmlHealth {
  private readonly states = new Map<Environment, SmlHealthState>();

  constructor(private readonly logger: Logger) {}

  state(environment: Environment): SmlHealthState {
    return this.states.get(environment) ?? {};
  }

  answered(environment: Environment): void {
    const before = this.state(environment);
    if (before.reachable === false || before.deploymentOk === false) this.logger.info({ environment }, 'the SML accepts this SMP again');
    this.states.set(environment, { ...before, reachable: true, deploymentOk: true });
  }

  failed(environment: Environment, trouble: Exclude<SmlTrouble, 'not-ours'>, error: unknown): void {
    const before = this.state(environment);
    const message = error instanceof Error ? error.message : String(error);
    const next: SmlHealthState = {
      reachable: trouble !== 'unavailable',
      deploymentOk: trouble === 'deployment' ? false : before.deploymentOk,
      lastProblem: { at: new Date().toISOString(), trouble, message },
    };
    const changed = before.reachable !== next.reachable || before.deploymentOk !== next.deploymentOk || before.lastProblem?.trouble !== trouble;
    if (changed || trouble === 'key-rule') {
      const level = trouble === 'unavailable' ? 'warn' : 'error';
      this.logger[level](
        { environment, trouble, err: message },
        trouble === 'deployment' ? 'the SML refuses this SMP: check HSMP_SMP_ID and the SML certificate' : 'SML call failed',
      );
    }
    this.states.set(environment, next);
  }
}

/**
 * PrepareToMigrate, once at a time per participant and key in this process (single flight):
 * concurrent first collections share one SML call. Across instances the database has already
 * decided the one key, so their calls carry the same key and repeat harmlessly.
 */
export class KeyPreparer {
  private readonly flights = new SingleFlight();
  /**
   * Keys this process saw the SML accept lately. A collection whose batch read the key before
   * it was marked prepared (it was in the database meanwhile) finds it here and calls no SML.
   */
  private readonly recentlyPrepared = new Set<string>();

  constructor(
    private readonly clients: ReadonlyMap<Environment, Pick<SmlClient, 'prepareToMigrate'>>,
    private readonly smpId: string,
    private readonly health: SmlHealth,
  ) {}

  /** Resolves when the SML holds the key; else throws HSMP-013 (not ours) or 503 HSMP-999. */
  prepare(participant: BelgianParticipant, environment: Environment, migrationKey: string): Promise<void> {
    const flight = `${environment}/${participant.enterpriseNumber}/${migrationKey}`;
    if (this.recentlyPrepared.has(flight)) return Promise.resolve();
    return this.flights.run(flight, async () => {
      await this.call(participant, environment, migrationKey);
      this.remember(flight);
    });
  }

  /** PrepareToMigrate of a key the SML may have lost (another key's prepare landed after it): no shortcut. */
  prepareAgain(participant: BelgianParticipant, environment: Environment, migrationKey: string): Promise<void> {
    return this.call(participant, environment, migrationKey);
  }

  private remember(flight: string): void {
    this.recentlyPrepared.add(flight);
    // A Set iterates in insertion order: the first entry is the oldest.
    if (this.recentlyPrepared.size > RECENTLY_PREPARED_MAX) this.recentlyPrepared.delete(this.recentlyPrepared.values().next().value as string);
  }

  private async call(participant: BelgianParticipant, environment: Environment, migrationKey: string): Promise<void> {
    const client = this.clients.get(environment);
    if (!client) throw dependencyUnavailable('SML', new Error(`no SML configured for ${environment}`));
    try {
      await client.prepareToMigrate({ smpId: this.smpId, participant: participant.value, migrationKey });
      this.health.answered(environment);
    } catch (error) {
      const trouble = classifySmlError(error);
      if (trouble === 'not-ours') {
        this.health.answered(environment);
        throw new HsmpError('HSMP-013', { participantId: participant.value, cause: error });
      }
      this.health.failed(environment, trouble, error);
      throw dependencyUnavailable('SML', error);
    }
  }
}
