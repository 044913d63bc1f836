import { parseUserSubject, userSubject } from '../domain/access-point';
import { brusselsDay } from '../domain/brussels-day';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { AdminProblem } from '../domain/errors';
import { datasetNumbers } from '../participants/datasets';
import {
  getEnterprise,
  markEnterpriseMigrated,
  removeEnterprise,
  restoreEnterprise,
  seedDatasets,
  type EnterpriseChange,
} from '../participants/enterprise-repository';
import { GLOBAL_SUBJECT, type Allowance, type CounterKind, type DailyCounters, type QuotaPolicy } from '../quota';
import type { Limits } from '../quota';
import type { SmlHealth } from '../sml';
import { lastReconciliations } from '../sml/reconciliation-store';
import type { Database } from '../store/database';
import { belgianParticipant } from '../participants/participant-id';
import { migrationsOf } from '../participants/participant-migrations';
import type { ParticipantRegistry } from '../participants/registry';
import { NothingToRevoke, type KeyRevocations, type RevocationSummary } from '../sml';
import type { PoolClient } from 'pg';
import { audited } from '../store/audit-log';
import { BadRequest, NotFound } from './errors';
import { parseInput, type Inputs } from './inputs';
import { auditPage, collectionPage, collectionsPerHour, type LogPage } from './log-repository';

/**
 * The BOSA operators' use cases (SPEC §4, §5, §9), knowing no HTTP: each takes its parsed input
 * and the operator's name, changes what it changes with its audit row in the same transaction,
 * and returns the answer. The admin API parses, calls and renders; nothing else decides here.
 */
export interface OperatorServiceOptions {
  database: Database;
  policy: QuotaPolicy;
  counters: DailyCounters;
  limits: Limits;
  /** What operators see of the SML; absent with HSMP_SML=off. */
  sml?: { health: SmlHealth; environments: Environment[] };
  /** The environments this deployment serves (HSMP_ENVIRONMENTS). */
  environments: Environment[];
  /** The participants' keys, for the enterprise view's key states. */
  registry: ParticipantRegistry;
  /** Absent with HSMP_SML=off: another system prepares the keys, and would have to replace them. */
  revocations?: KeyRevocations;
  now: () => Date;
}

/** Collections the enterprise view shows, newest first. */
const RECENT_COLLECTIONS = 20;

export class OperatorService {
  constructor(private readonly options: OperatorServiceOptions) {}

  private get pool() {
    return this.options.database.pool;
  }

  async blocks() {
    const blocks = await this.options.policy.listBlocks();
    const pick = (kind: CounterKind) => blocks.filter((b) => b.kind === kind);
    return {
      users: pick('user').map((b) => ({ ...parseUserSubject(b.subject), blockedAt: b.blockedAt, reason: b.reason })),
      ips: pick('ip').map((b) => ({ address: b.subject, blockedAt: b.blockedAt, reason: b.reason })),
      global:
        pick('global')
          .map((b) => ({ blockedAt: b.blockedAt, reason: b.reason }))
          .at(0) ?? null,
    };
  }

  /** Lifts the blocks named and gives them a fresh count for today (else the next query would exceed again). */
  async reactivate(input: Inputs['reactivation'], operator: string): Promise<{ reactivated: string[] }> {
    const subjects: Array<[CounterKind, string]> =
      input.kind === 'user'
        ? (input.environment ? [input.environment] : [...ENVIRONMENTS]).map((environment) => ['user', userSubject({ environment, seatId: input.seatId })])
        : input.kind === 'ip'
          ? [['ip', input.address]]
          : [['global', GLOBAL_SUBJECT]];
    const target = subjects.map((s) => s[1]).join(',');
    // Finding no block is refused inside the transaction: no audit row, and no count reset for a subject nobody lifted.
    const lifted = await audited(this.pool, { operator, action: `reactivate-${input.kind}`, target, reason: input.reason }, async (client) => {
      const done: Array<[CounterKind, string]> = [];
      for (const [kind, subject] of subjects) if (await this.options.policy.lift(client, kind, subject, operator, input.reason)) done.push([kind, subject]);
      if (done.length === 0) throw new NotFound(`no block in force for ${target.replaceAll(',', ', ')}`);
      return done;
    });
    await this.options.policy.changed();
    const today = brusselsDay(this.options.now());
    for (const [kind, subject] of lifted) await this.options.counters.reset(today, kind, subject);
    return { reactivated: lifted.map(([, subject]) => subject) };
  }

  async allowances(): Promise<{ allowances: Allowance[] }> {
    return { allowances: await this.options.policy.listAllowances() };
  }

  async grantAllowance(input: Inputs['allowanceGrant'], operator: string): Promise<{ allowances: Allowance[] }> {
    const environments: Environment[] = input.environment ? [input.environment] : [...ENVIRONMENTS];
    const granted = await audited(
      this.pool,
      { operator, action: 'grant-allowance', target: input.seatId, reason: input.reason, details: input },
      async (client) => {
        const out: Allowance[] = [];
        for (const environment of environments) {
          out.push(
            await this.options.policy.grant(client, {
              seatId: input.seatId,
              environment,
              dailyLimit: input.limit,
              validFrom: new Date(input.from),
              validTo: new Date(input.to),
              grantedBy: operator,
              reason: input.reason ?? null,
            }),
          );
        }
        return out;
      },
    );
    await this.options.policy.changed();
    return { allowances: granted };
  }

  async revokeAllowance(id: number, input: Inputs['withReason'], operator: string): Promise<{ revoked: number }> {
    const revoked = await audited(this.pool, { operator, action: 'revoke-allowance', target: String(id), reason: input.reason }, (client) =>
      this.options.policy.revoke(client, id, operator),
    );
    if (!revoked) throw new NotFound(`no allowance ${id} in force`);
    await this.options.policy.changed();
    return { revoked: id };
  }

  /**
   * A day's usage in a bounded answer: the global count, how many users and addresses were
   * counted, and one page of each list, busiest first (a day under attack counts tens of
   * thousands of addresses; the rest is paged with `offset`).
   */
  async usage(input: Inputs['usage']) {
    const day = input.day ?? brusselsDay(this.options.now());
    const usage = await this.options.counters.usage(day, { limit: input.limit, offset: input.offset });
    const { limits } = this.options;
    const end = input.offset + input.limit;
    return {
      day,
      global: { count: usage.global, limit: limits.globalDaily },
      totals: usage.totals,
      users: usage.users.map(({ subject, count }) => ({ ...parseUserSubject(subject), count })),
      ips: usage.ips.map(({ subject, count }) => ({ address: subject, count, limit: limits.ipDaily })),
      next: end < Math.max(usage.totals.users, usage.totals.ips) ? end : null,
    };
  }

  /** The daily limits configured, and a user's in force now (an allowance raises it). */
  limits(): Limits {
    return this.options.limits;
  }

  userLimit(seatId: string, environment: string): number {
    const known = ENVIRONMENTS.find((e) => e === environment);
    const { userDaily } = this.options.limits;
    return known ? this.options.policy.userLimit(seatId, known, this.options.now(), userDaily) : userDaily;
  }

  /** Collections per hour and outcome over the last `days` days, whole hours. */
  async collectionsPerHour(days: number) {
    const until = new Date(Math.ceil(this.options.now().getTime() / 3600_000) * 3600_000);
    const since = new Date(until.getTime() - days * 24 * 3600_000);
    return { since, until, counts: await collectionsPerHour(this.pool, since) };
  }

  /** Each served environment's SML as this instance last saw it, and its last reconciliation; undefined with HSMP_SML=off. */
  async smlStatus() {
    const sml = this.options.sml;
    if (!sml) return undefined;
    const last = await lastReconciliations(this.pool);
    return sml.environments.map((environment) => ({
      environment,
      health: sml.health.state(environment),
      lastReconciliation: last.find((r) => r.environment === environment),
    }));
  }

  /**
   * The enterprise view (SPEC §4): its status, per environment its migration and its key's state
   * (never the key), and its recent collections (who, when, from where, outcome).
   */
  async enterprise(enterpriseNumber: string) {
    const enterprise = await getEnterprise(this.pool, enterpriseNumber);
    if (!enterprise) throw new NotFound(`hsmp does not hold enterprise ${enterpriseNumber}`);
    const [migrations, keys, collections] = [
      await migrationsOf(this.pool, enterpriseNumber),
      await this.options.registry.keyStatesOf(enterpriseNumber),
      await collectionPage(this.pool, parseInput('logQuery', { participant: enterpriseNumber, limit: String(RECENT_COLLECTIONS) })),
    ];
    return {
      enterpriseNumber,
      ...enterprise,
      environments: ENVIRONMENTS.map((environment) => {
        const migration = migrations.find((m) => m.environment === environment);
        const key = keys.get(environment);
        return {
          environment,
          served: this.options.environments.includes(environment),
          migrated: migration ? { at: migration.migratedAt, by: migration.source } : null,
          key: key ?? { state: 'none', revocations: 0 },
        };
      }),
      recentCollections: collections.entries.map((e) => ({
        at: e.collected_at,
        environment: e.environment,
        seatId: e.seat_id,
        clientIp: e.client_ip,
        outcome: e.outcome,
        requestId: e.request_id,
      })),
    };
  }

  /** HSMP-012 in every environment (SPEC §4: deactivation is the enterprise's). */
  removeEnterprise(enterpriseNumber: string, input: Inputs['withReason'], operator: string) {
    return this.changeEnterprise(enterpriseNumber, 'remove', [...this.options.environments], input.reason, operator, (client) =>
      removeEnterprise(client, enterpriseNumber),
    );
  }

  /** HSMP-013 in the environment named, or in every environment served. */
  markEnterpriseMigrated(enterpriseNumber: string, input: Inputs['perEnvironment'], operator: string) {
    const environments = this.servedOrAsked(input.environment);
    return this.changeEnterprise(enterpriseNumber, 'mark-migrated', environments, input.reason, operator, (client) =>
      markEnterpriseMigrated(client, enterpriseNumber, environments),
    );
  }

  /** Hsmp's again in the environment named; without one, in every environment served, and active. */
  restoreEnterprise(enterpriseNumber: string, input: Inputs['perEnvironment'], operator: string) {
    const environments = this.servedOrAsked(input.environment);
    return this.changeEnterprise(enterpriseNumber, 'restore', environments, input.reason, operator, (client) =>
      restoreEnterprise(client, enterpriseNumber, environments, input.environment === undefined),
    );
  }

  private async changeEnterprise(
    enterpriseNumber: string,
    action: string,
    environments: Environment[],
    reason: string | undefined,
    operator: string,
    apply: (client: PoolClient) => Promise<EnterpriseChange | undefined>,
  ) {
    const entry = { operator, action: `enterprise-${action}`, target: enterpriseNumber, reason, details: { environments } };
    const change = await audited(this.pool, entry, apply);
    if (!change) throw new NotFound(`hsmp does not hold enterprise ${enterpriseNumber}`);
    return { enterpriseNumber, environments, ...change };
  }

  /**
   * Revokes the participant's key (SPEC §9) in the environment named, or in every environment
   * served where it has a key handed out. Each environment is one revocation: prepared at the SML
   * first, replaced and audited only once the SML accepted the new key.
   */
  async revokeKey(enterpriseNumber: string, input: Inputs['keyRevocation'], operator: string) {
    const revocations = this.options.revocations;
    if (!revocations) throw new AdminProblem('sml-off', 'HSMP_SML is off: the keys are prepared by another system, which has to replace them');
    if (!(await getEnterprise(this.pool, enterpriseNumber))) throw new NotFound(`hsmp does not hold enterprise ${enterpriseNumber}`);
    const participant = belgianParticipant(enterpriseNumber);
    const environments = this.servedOrAsked(input.environment);
    const revoked: RevocationSummary[] = [];
    const nothing: Array<{ environment: Environment; why: string }> = [];
    for (const environment of environments) {
      try {
        const { summary } = await revocations.revoke(participant, environment, { operator, reason: input.reason });
        if (summary) revoked.push(summary);
      } catch (error) {
        if (!(error instanceof NothingToRevoke) || input.environment) throw withDone(error, revoked);
        nothing.push({ environment, why: error.message });
      }
    }
    if (revoked.length === 0) throw new NothingToRevoke(nothing.map((n) => n.why).join('; '));
    return { enterpriseNumber, revoked, nothingToRevoke: nothing };
  }

  private servedOrAsked(asked: Environment | undefined): Environment[] {
    if (asked && !this.options.environments.includes(asked)) throw new BadRequest(`environment: ${asked} is not served by this deployment`);
    return asked ? [asked] : [...this.options.environments];
  }

  async seed(input: Inputs['seed'], operator: string) {
    const datasets = Array.from({ length: input.datasets }, (_, i) => ({ dataset: i + 1, types: datasetNumbers(i + 1) }));
    await audited(this.pool, { operator, action: 'seed', target: `datasets 1..${input.datasets}`, reason: input.reason }, (client) =>
      seedDatasets(
        client,
        datasets.map((d) => d.types),
        this.options.environments,
      ),
    );
    return { datasets };
  }

  auditLog(input: Inputs['logQuery']): Promise<LogPage> {
    return auditPage(this.pool, input);
  }

  collectionLog(input: Inputs['logQuery']): Promise<LogPage> {
    return collectionPage(this.pool, input);
  }
}

/** A failure after other environments were already revoked says so: those stay revoked. */
function withDone(error: unknown, revoked: RevocationSummary[]): unknown {
  if (revoked.length === 0 || !(error instanceof Error)) return error;
  error.message += ` (already revoked, and staying so: ${revoked.map((r) => r.environment).join(', ')})`;
  return error;
}
