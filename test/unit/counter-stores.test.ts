import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { HsmpError } from '../../src/domain/errors';
import { createLogger } from '../../src/log';
import { connectRedis, MemoryCounters, RedisCounters, type DailyCounters, type DayUsage, type DayUsageSource } from '../../src/quota';
import { requireInCi } from '../support/service';

/**
 * One contract, both counter stores (as rate-limiter-flexible runs one suite per store): what
 * the quota guard relies on holds in memory and in Redis alike. The Redis run needs REDIS_URL
 * (skipped without it, a failure in CI, and a failure whenever Redis does not answer); each
 * run has a prefix of its own and deletes only its own keys.
 */
interface Store {
  counters: DailyCounters;
  close(): Promise<void>;
}

const NO_USAGE: DayUsage = { users: {}, ips: {}, global: 0 };
const DAY = '2026-12-01';
const keysOf = (n: number) => ({ user: `test:PBE00000${n}`, ip: `192.0.2.${n}` });
const ALL = { limit: 1000, offset: 0 };
const counted = (subject: string, count: number) => ({ subject, count });

async function memoryStore(usageFromLog: DayUsageSource): Promise<Store> {
  const counters = new MemoryCounters(usageFromLog);
  return { counters, close: () => counters.close() };
}

async function redisStore(usageFromLog: DayUsageSource): Promise<Store> {
  const prefix = `hsmp-test-counters-${randomBytes(6).toString('hex')}`;
  const counters = new RedisCounters(connectRedis(process.env.REDIS_URL!), createLogger('silent'), prefix, usageFromLog);
  await counters.ready().catch(async (error: unknown) => {
    await counters.close();
    throw error;
  });
  return {
    counters,
    close: async () => {
      await counters.close();
      const redis = new Redis(process.env.REDIS_URL!);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

const stores: Array<[string, (usageFromLog: DayUsageSource) => Promise<Store>, jest.Describe]> = [
  ['memory', memoryStore, describe],
  ['Redis', redisStore, requireInCi('REDIS_URL') ? describe : describe.skip],
];

describe.each(stores)('%s counters', (_name, open, describeStore) => {
  describeStore('the counter contract', () => {
    const opened: Store[] = [];
    const store = async (usageFromLog: DayUsageSource = async () => NO_USAGE) => {
      const s = await open(usageFromLog);
      opened.push(s);
      return s.counters;
    };
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    it('counts a query against its user, its IP and the global counter of the day', async () => {
      const counters = await store();
      expect(await counters.increment(DAY, keysOf(1))).toEqual({ user: 1, ip: 1, global: 1 });
      expect(await counters.increment(DAY, { user: keysOf(1).user, ip: keysOf(2).ip })).toEqual({ user: 2, ip: 1, global: 2 });
      expect(await counters.increment('2026-12-02', keysOf(1))).toEqual({ user: 1, ip: 1, global: 1 });
      expect(await counters.usage(DAY, ALL)).toEqual({
        global: 2,
        totals: { users: 1, ips: 2 },
        users: [counted(keysOf(1).user, 2)],
        ips: [counted(keysOf(2).ip, 1), counted(keysOf(1).ip, 1)],
      });
    });

    it('gives each of many concurrent queries its own count', async () => {
      const counters = await store();
      const counts = await Promise.all(Array.from({ length: 50 }, () => counters.increment(DAY, keysOf(1))));
      expect(counts.map((c) => c.user).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(counts.map((c) => c.global).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    });

    it('gives a released query back to all three counters, never below zero', async () => {
      const counters = await store();
      await counters.increment(DAY, keysOf(1));
      await counters.increment(DAY, keysOf(1));
      await counters.release(DAY, keysOf(1));
      expect(await counters.usage(DAY, ALL)).toEqual({
        global: 1,
        totals: { users: 1, ips: 1 },
        users: [counted(keysOf(1).user, 1)],
        ips: [counted(keysOf(1).ip, 1)],
      });
      await counters.reset(DAY, 'user', keysOf(1).user);
      await counters.release(DAY, keysOf(1));
      await counters.release(DAY, keysOf(1));
      expect(await counters.increment(DAY, keysOf(1))).toEqual({ user: 1, ip: 1, global: 1 });
    });

    it('forgets one counter on reset, the global one whatever subject is named', async () => {
      const counters = await store();
      await counters.increment(DAY, keysOf(1));
      await counters.increment(DAY, keysOf(2));
      await counters.reset(DAY, 'ip', keysOf(1).ip);
      await counters.reset(DAY, 'global', 'anything');
      expect(await counters.increment(DAY, keysOf(1))).toEqual({ user: 2, ip: 1, global: 1 });
    });

    it('reads usage a page at a time, busiest first, ties in descending subject order, totals over the whole day', async () => {
      const counters = await store();
      // Subject n counted n % 4 + 1 times: 1..9 give counts 2,3,4,1,2,3,4,1,2.
      for (let n = 1; n <= 9; n++) for (let i = 0; i <= n % 4; i++) await counters.increment(DAY, keysOf(n));
      const first = await counters.usage(DAY, { limit: 4, offset: 0 });
      expect(first.global).toBe(22);
      expect(first.totals).toEqual({ users: 9, ips: 9 });
      expect(first.ips).toEqual([counted(keysOf(7).ip, 4), counted(keysOf(3).ip, 4), counted(keysOf(6).ip, 3), counted(keysOf(2).ip, 3)]);
      expect(first.users.map((u) => u.subject)).toEqual([7, 3, 6, 2].map((n) => keysOf(n).user));
      const second = await counters.usage(DAY, { limit: 4, offset: 4 });
      expect(second.ips).toEqual([counted(keysOf(9).ip, 2), counted(keysOf(5).ip, 2), counted(keysOf(1).ip, 2), counted(keysOf(8).ip, 1)]);
      const last = await counters.usage(DAY, { limit: 4, offset: 8 });
      expect(last.ips).toEqual([counted(keysOf(4).ip, 1)]);
      expect(last.totals).toEqual({ users: 9, ips: 9 });
      expect(await counters.usage(DAY, { limit: 4, offset: 20 })).toEqual({ global: 22, totals: { users: 9, ips: 9 }, users: [], ips: [] });
      expect(await counters.usage('2026-12-03', ALL)).toEqual({ global: 0, totals: { users: 0, ips: 0 }, users: [], ips: [] });
    });

    it('reflects a release and a reset in the ranking', async () => {
      const counters = await store();
      for (let i = 0; i < 3; i++) await counters.increment(DAY, keysOf(1));
      for (let i = 0; i < 2; i++) await counters.increment(DAY, keysOf(2));
      await counters.release(DAY, keysOf(1));
      await counters.release(DAY, keysOf(1));
      expect((await counters.usage(DAY, { limit: 1, offset: 0 })).ips).toEqual([counted(keysOf(2).ip, 2)]);
      await counters.reset(DAY, 'ip', keysOf(2).ip);
      await counters.reset(DAY, 'user', keysOf(1).user);
      const usage = await counters.usage(DAY, ALL);
      expect(usage.ips).toEqual([counted(keysOf(1).ip, 1)]);
      expect(usage.users).toEqual([counted(keysOf(2).user, 2)]);
      expect(usage.totals).toEqual({ users: 1, ips: 1 });
      expect(await counters.increment(DAY, keysOf(2))).toEqual({ user: 3, ip: 1, global: 4 });
      expect((await counters.usage(DAY, ALL)).ips).toEqual([counted(keysOf(2).ip, 1), counted(keysOf(1).ip, 1)]);
    });

    it('starts a day it has not counted from the collection log, and counts concurrent first queries once each', async () => {
      const counters = await store(async (day) => {
        return day === DAY ? { users: { [keysOf(1).user]: 7 }, ips: { [keysOf(1).ip]: 9 }, global: 40 } : NO_USAGE;
      });
      const counts = await Promise.all([counters.increment(DAY, keysOf(1)), counters.increment(DAY, keysOf(1))]);
      expect(counts.map((c) => c.user).sort()).toEqual([8, 9]);
      expect(counts.map((c) => c.ip).sort()).toEqual([10, 11]);
      expect(counts.map((c) => c.global).sort()).toEqual([41, 42]);
      expect(await counters.usage(DAY, ALL)).toEqual({
        global: 42,
        totals: { users: 1, ips: 1 },
        users: [counted(keysOf(1).user, 9)],
        ips: [counted(keysOf(1).ip, 11)],
      });
    });

    it('answers 503 (database) when the day must start from a log it cannot read, and counts nothing', async () => {
      let readable = false;
      const counters = await store(async () => {
        if (!readable) throw new Error('database down');
        return NO_USAGE;
      });
      const failure = (await counters.increment(DAY, keysOf(1)).catch((error: unknown) => error)) as HsmpError;
      expect([failure.code, failure.status, failure.dependency]).toEqual(['HSMP-999', 503, 'database']);
      readable = true;
      expect(await counters.increment(DAY, keysOf(1))).toEqual({ user: 1, ip: 1, global: 1 });
    });
  });
});

(requireInCi('REDIS_URL') ? describe : describe.skip)('Redis counters, rankings', () => {
  it('expire with the counters of their day, whether counted or rebuilt from the log', async () => {
    const prefix = `hsmp-test-counters-${randomBytes(6).toString('hex')}`;
    const redis = new Redis(process.env.REDIS_URL!);
    const counters = new RedisCounters(connectRedis(process.env.REDIS_URL!), createLogger('silent'), prefix, async (day) =>
      day === DAY ? { users: { [keysOf(1).user]: 3 }, ips: { [keysOf(1).ip]: 3 }, global: 3 } : NO_USAGE,
    );
    try {
      await counters.ready();
      await counters.increment(DAY, keysOf(1));
      await counters.increment('2026-12-02', keysOf(2));
      for (const day of [DAY, '2026-12-02']) {
        for (const kind of ['user', 'ip']) {
          const ttl = await redis.ttl(`${prefix}:quota-ranking:${day}:${kind}`);
          expect(ttl).toBeGreaterThan(2 * 24 * 3600 - 60);
          expect(ttl).toBeLessThanOrEqual(2 * 24 * 3600);
        }
      }
    } finally {
      await counters.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
