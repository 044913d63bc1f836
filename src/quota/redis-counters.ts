import Redis from 'ioredis';
import { dependencyUnavailable } from '../domain/errors';
import type { Logger } from '../log';
import { GroupCommit } from '../batching/group-commit';
import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsage, DayUsageSource } from './counters';
import { splitOnce } from './memory-counters';

/**
 * Counters in Redis, shared by every instance. The three increments of one query run inside
 * one Lua script, atomic. Queries that arrive while a script is running wait and go together
 * in the next one (group commit, as for the database): one round trip for the batch, and
 * within it each query's three increments in turn, exactly as if sent one by one. Keys live
 * two days, then Redis forgets them. Redis unreachable → 503 HSMP-999 at once (no offline
 * queue): no key leaves uncounted.
 */
const INCREMENT_ALL = `
local ttl = tonumber(ARGV[1])
local counts = {}
for q = 0, #KEYS / 4 - 1 do
  local base = q * 4
  if redis.call('EXISTS', KEYS[base + 1]) == 0 then
    for i = 1, 3 do counts[q * 3 + i] = -1 end
  else
    for i = 1, 3 do
      local n = redis.call('INCR', KEYS[base + 1 + i])
      if n == 1 then redis.call('EXPIRE', KEYS[base + 1 + i], ttl) end
      counts[q * 3 + i] = n
    end
  end
end
return counts`;

/**
 * Writes a day's counters as rebuilt from the collection log, and the day's marker, unless the
 * marker is there already (another instance rebuilt first, and queries count again since).
 */
const SEED_DAY = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i], 'EX', ARGV[1])
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1`;

// Never below zero: an operator may have reset the counter between the increment and this.
const RELEASE_ALL = `
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n > 0 then redis.call('DECR', KEYS[i]) end
end
return 0`;

const TTL_SECONDS = 2 * 24 * 3600;
const MAX_REBUILDS_PER_QUERY = 3;
/** Queries per script run: bounds how long one run holds Redis. */
const MAX_BATCH = 128;

type RedisWithScript = Redis & {
  hsmpIncrementAll(numberOfKeys: number, ...keysThenTtl: Array<string | number>): Promise<number[]>;
  hsmpReleaseAll(numberOfKeys: number, ...keys: string[]): Promise<number>;
  hsmpSeedDay(numberOfKeys: number, ...keysThenValues: Array<string | number>): Promise<number>;
};

/**
 * A Redis client whose every wait is bounded: no offline queue (a dead Redis answers at once),
 * 2 s per command and per connect, reconnecting in the background.
 */
export function connectRedis(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 2000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: true,
  });
}

/**
 * Redis may lose the counters (a restart without persistence, a failover to a replica that
 * missed the last writes, a flush) and would then hand out a fresh daily quota. So a day's
 * counters count only once the day's marker key is there: it is written, in one script with
 * the counts rebuilt from the collection log, by the first instance that finds it missing (at
 * the first query of every day, and after any loss). Until then no query is counted anywhere;
 * each instance waits for the rebuild, so the limit stays exact across instances.
 */
export class RedisCounters implements DailyCounters {
  private readonly redis: RedisWithScript;
  private readonly prefix: string;
  private readonly increments = new GroupCommit<string[], Counts>((batch) => this.incrementBatch(batch), { maxInFlight: 1, maxBatch: MAX_BATCH });
  private readonly rebuilds = new Map<string, Promise<void>>();

  /** `redis`: a client made by `connectRedis` (or any ioredis client with the same bounds). */
  constructor(
    redis: Redis,
    private readonly logger: Logger,
    prefix: string,
    private readonly usageFromLog: DayUsageSource,
  ) {
    this.prefix = `${prefix}:quota`;
    this.redis = redis as RedisWithScript;
    this.redis.defineCommand('hsmpIncrementAll', { lua: INCREMENT_ALL });
    this.redis.defineCommand('hsmpReleaseAll', { lua: RELEASE_ALL });
    this.redis.defineCommand('hsmpSeedDay', { lua: SEED_DAY });
    let down = false;
    this.redis.on('error', (error) => {
      if (!down) logger.warn({ err: error }, 'redis unavailable');
      down = true;
    });
    this.redis.on('ready', () => {
      if (down) logger.info('redis available again');
      down = false;
    });
  }

  async ready(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect().catch(() => undefined);
    await this.call(() => this.redis.ping());
  }

  async increment(day: string, keys: CounterKeys): Promise<Counts> {
    for (let attempt = 1; ; attempt++) {
      const counts = await this.increments.submit([this.markerKey(day), ...this.keysOf(day, keys)]);
      if (counts.user >= 0) return counts;
      // Lost again while rebuilding (Redis restarting twice): give up on this query, not the day.
      if (attempt === MAX_REBUILDS_PER_QUERY) throw dependencyUnavailable('redis', new Error(`the quota counters of ${day} keep disappearing`));
      await this.rebuild(day);
    }
  }

  /** One rebuild of a day at a time in this instance; the script decides between instances. */
  private rebuild(day: string): Promise<void> {
    let running = this.rebuilds.get(day);
    if (!running) {
      running = this.seed(day).finally(() => this.rebuilds.delete(day));
      this.rebuilds.set(day, running);
    }
    return running;
  }

  private async seed(day: string): Promise<void> {
    const usage = await this.usageFromLog(day).catch((error: unknown) => {
      throw dependencyUnavailable('database', error);
    });
    const counters: Array<[string, number]> = [
      [this.key(day, 'global', '*'), usage.global],
      ...Object.entries(usage.users).map(([subject, n]): [string, number] => [this.key(day, 'user', subject), n]),
      ...Object.entries(usage.ips).map(([subject, n]): [string, number] => [this.key(day, 'ip', subject), n]),
    ];
    const seeded = await this.call(() =>
      this.redis.hsmpSeedDay(counters.length + 1, this.markerKey(day), ...counters.map(([key]) => key), TTL_SECONDS, ...counters.map(([, n]) => n)),
    );
    if (seeded === 1 && usage.global > 0)
      this.logger.warn(
        { day, global: usage.global, users: Object.keys(usage.users).length, ips: Object.keys(usage.ips).length },
        'quota counters were missing in Redis (restart, failover or flush): rebuilt from the collection log',
      );
  }

  async release(day: string, keys: CounterKeys): Promise<void> {
    await this.call(() => this.redis.hsmpReleaseAll(3, ...this.keysOf(day, keys)));
  }

  private keysOf(day: string, keys: CounterKeys): string[] {
    return [this.key(day, 'user', keys.user), this.key(day, 'ip', keys.ip), this.key(day, 'global', '*')];
  }

  /** Outside the `<prefix>:quota:<day>:*` counters, so that `usage` does not read it as one. */
  private markerKey(day: string): string {
    return `${this.prefix}-rebuilt:${day}`;
  }

  private async incrementBatch(batch: string[][]): Promise<Counts[]> {
    const keys = batch.flat();
    const counts = await this.call(() => this.redis.hsmpIncrementAll(keys.length, ...keys, TTL_SECONDS));
    return batch.map((_, i) => ({ user: counts[3 * i], ip: counts[3 * i + 1], global: counts[3 * i + 2] }));
  }

  async reset(day: string, kind: CounterKind, subject: string): Promise<void> {
    await this.call(() => this.redis.del(this.key(day, kind, kind === 'global' ? '*' : subject)));
  }

  async usage(day: string): Promise<DayUsage> {
    const usage: DayUsage = { users: {}, ips: {}, global: 0 };
    const pattern = `${this.prefix}:${day}:*`;
    const keys: string[] = [];
    await this.call(async () => {
      let cursor = '0';
      do {
        const [next, found] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        keys.push(...found);
        cursor = next;
      } while (cursor !== '0');
    });
    const values = keys.length > 0 ? await this.call(() => this.redis.mget(keys)) : [];
    keys.forEach((key, i) => {
      const [kind, subject] = splitOnce(key.slice(pattern.length - 1), ':');
      const n = Number(values[i] ?? 0);
      if (kind === 'user') usage.users[subject] = n;
      else if (kind === 'ip') usage.ips[subject] = n;
      else usage.global = n;
    });
    return usage;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private key(day: string, kind: CounterKind, subject: string): string {
    return `${this.prefix}:${day}:${kind}:${subject}`;
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw dependencyUnavailable('redis', error);
    }
  }
}
