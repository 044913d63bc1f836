import { userSubject, type AccessPoint } from '../domain/access-point';
import type { QuotaStatus } from '../domain/quota-status';
import { brusselsDay, secondsUntilBrusselsMidnight } from '../domain/brussels-day';
import { HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { CounterKind, DailyCounters } from './counters';
import type { QuotaPolicy } from './policy';

/** What the guard needs of the policy: blocks in force, the user's limit, and writing a block. */
export type BlockPolicy = Pick<QuotaPolicy, 'isBlocked' | 'userLimit' | 'block'>;

export interface Limits {
  userDaily: number;
  ipDaily: number;
  globalDaily: number;
}

export interface Admission {
  quota: QuotaStatus;
  refusal?: HsmpError;
  /** Gives the counted query back (it ended in a 5xx); absent when nothing was counted. */
  release?: () => Promise<void>;
}

export const GLOBAL_SUBJECT = '*';

/**
 * SPEC §3: blocks already in force answer first (811, 813, 812); then the query is counted
 * against the user, IP and global counters of the Brussels day; the query that exceeds a
 * limit is refused and blocks its subject until an operator reactivates it.
 */
export class QuotaGuard {
  private readonly now: () => Date;

  constructor(
    private readonly counters: DailyCounters,
    private readonly policy: BlockPolicy,
    private readonly limits: Limits,
    private readonly logger: Logger,
    now?: () => Date,
  ) {
    this.now = now ?? (() => new Date());
  }

  async admit(accessPoint: AccessPoint, ip: string): Promise<Admission> {
    const now = this.now();
    const user = userSubject(accessPoint);
    const limit = this.policy.userLimit(accessPoint.seatId, accessPoint.environment, now, this.limits.userDaily);
    const resetSeconds = secondsUntilBrusselsMidnight(now);
    const blockedBefore = this.blockInForce(user, ip);
    if (blockedBefore) return { quota: { limit, remaining: 0, resetSeconds }, refusal: blockedBefore };

    const day = brusselsDay(now);
    const counts = await this.counters.increment(day, { user, ip });
    const quota = { limit, remaining: limit - counts.user, resetSeconds };
    const exceeded: Array<[CounterKind, string, number, number, HsmpError['code']]> = [
      ['user', user, counts.user, limit, 'HSMP-811'],
      ['ip', ip, counts.ip, this.limits.ipDaily, 'HSMP-813'],
      ['global', GLOBAL_SUBJECT, counts.global, this.limits.globalDaily, 'HSMP-812'],
    ];
    for (const [kind, subject, count, max, code] of exceeded) {
      if (count <= max) continue;
      await this.policy.block(kind, subject, `daily limit ${max} exceeded on ${brusselsDay(now)}`).catch((error: unknown) => {
        // The counter keeps refusing today; the next refusal writes the block again.
        this.logger.error({ err: error, kind, subject }, 'could not record a block');
      });
      this.logger.warn({ kind, subject, count, limit: max }, 'daily limit exceeded: blocked until an operator reactivates');
      return { quota, refusal: new HsmpError(code) };
    }
    const release = () =>
      this.counters.release(day, { user, ip }).catch((error: unknown) => {
        this.logger.error({ err: error, subject: user }, 'could not give back a query that ended in a 5xx');
      });
    return { quota, release };
  }

  private blockInForce(user: string, ip: string): HsmpError | undefined {
    if (this.policy.isBlocked('user', user)) return new HsmpError('HSMP-811');
    if (this.policy.isBlocked('ip', ip)) return new HsmpError('HSMP-813');
    if (this.policy.isBlocked('global', GLOBAL_SUBJECT)) return new HsmpError('HSMP-812');
    return undefined;
  }
}
