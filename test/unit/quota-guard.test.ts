import { createLogger } from '../../src/log';
import { MemoryCounters, QuotaGuard, type BlockPolicy } from '../../src/quota';
import type { CounterKind } from '../../src/quota';

/** SPEC §3's decisions with in-memory counters and a fake policy: no Redis, no database. */
function fakePolicy(userLimit = 3): BlockPolicy & { blocked: Set<string> } {
  const blocked = new Set<string>();
  return {
    blocked,
    isBlocked: (kind: CounterKind, subject: string) => blocked.has(`${kind}|${subject}`),
    userLimit: () => userLimit,
    block: async (kind: CounterKind, subject: string) => {
      blocked.add(`${kind}|${subject}`);
    },
  };
}
const ap = { seatId: 'PBE000001', fingerprint: 'f', environment: 'production' as const };
const noon = () => new Date('2026-11-23T11:00:00Z');

const ALL = { limit: 1000, offset: 0 };

describe('QuotaGuard', () => {
  it('counts, refuses the query that exceeds with 811 and blocks the user; a block answers before counting', async () => {
    const counters = new MemoryCounters();
    const policy = fakePolicy(3);
    const guard = new QuotaGuard(counters, policy, { userDaily: 3, ipDaily: 100, globalDaily: 100 }, createLogger('silent'), noon);
    const remaining = [];
    for (let i = 0; i < 3; i++) remaining.push((await guard.admit(ap, '192.0.2.1')).quota.remaining);
    expect(remaining).toEqual([2, 1, 0]);
    const fourth = await guard.admit(ap, '192.0.2.1');
    expect(fourth.refusal?.code).toBe('HSMP-811');
    expect(policy.blocked.has('user|production:PBE000001')).toBe(true);
    const fifth = await guard.admit(ap, '192.0.2.1');
    expect(fifth.refusal?.code).toBe('HSMP-811');
    expect((await counters.usage('2026-11-23', ALL)).users).toEqual([{ subject: 'production:PBE000001', count: 4 }]);
  });

  it('IP limit → 813, global limit → 812, in that order after the user', async () => {
    const counters = new MemoryCounters();
    const policy = fakePolicy(100);
    const guard = new QuotaGuard(counters, policy, { userDaily: 100, ipDaily: 2, globalDaily: 3 }, createLogger('silent'), noon);
    await guard.admit(ap, '192.0.2.1');
    await guard.admit(ap, '192.0.2.1');
    expect((await guard.admit(ap, '192.0.2.1')).refusal?.code).toBe('HSMP-813');
    expect((await guard.admit({ ...ap, seatId: 'PBE000002' }, '192.0.2.9')).refusal?.code).toBe('HSMP-812');
    expect([...policy.blocked].sort()).toEqual(['global|*', 'ip|192.0.2.1']);
  });

  it('a released query is given back: the same count as before it', async () => {
    const counters = new MemoryCounters();
    const guard = new QuotaGuard(counters, fakePolicy(5), { userDaily: 5, ipDaily: 5, globalDaily: 5 }, createLogger('silent'), noon);
    const first = await guard.admit(ap, '192.0.2.1');
    const second = await guard.admit(ap, '192.0.2.1');
    await second.release?.();
    expect(first.quota.remaining).toBe(4);
    expect((await guard.admit(ap, '192.0.2.1')).quota.remaining).toBe(3);
    expect((await counters.usage('2026-11-23', ALL)).global).toBe(2);
  });

  it('a calendar day: the whole quota just before Brussels midnight and again just after, 0.8 s apart (docs/access-points/quotas-and-limits.md)', async () => {
    // 2026-11-23 23:59:59.6 and 2026-11-24 00:00:00.4 in Brussels (UTC+1 in winter).
    let now = new Date('2026-11-23T22:59:59.600Z');
    const counters = new MemoryCounters();
    const guard = new QuotaGuard(counters, fakePolicy(3), { userDaily: 3, ipDaily: 100, globalDaily: 100 }, createLogger('silent'), () => now);
    const admitThrice = async () => {
      const outcomes = [];
      for (let i = 0; i < 3; i++) outcomes.push((await guard.admit(ap, '192.0.2.1')).refusal?.code ?? 'ok');
      return outcomes;
    };
    expect(await admitThrice()).toEqual(['ok', 'ok', 'ok']);
    now = new Date('2026-11-23T23:00:00.400Z');
    expect(await admitThrice()).toEqual(['ok', 'ok', 'ok']);
    expect([(await counters.usage('2026-11-23', ALL)).global, (await counters.usage('2026-11-24', ALL)).global]).toEqual([3, 3]);
  });
});
