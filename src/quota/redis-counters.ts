import Redis from 'ioredis';
import { dependencyUnavailable } from '../domain/errors';
import type { Logger } from '../log';
import { GroupCommit } from '../batching/group-commit';
import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsage } from './counters';
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
for i = 1, #KEYS do
  counts[i] = redis.call('INCR', KEYS[i])
  if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return counts`;

// Never below zero: an operator may have reset the counter between the increment and this.
const RELEASE_ALL = `
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n > 0 then redis.call('DECR', KEYS[i]) end
end
return 0`;

const TTL_SECONDS = 2 * 24 * 3600;
/** Queries per script run: bounds how long one run holds Redis. */
const MAX_BATCH = 128;

type RedisWithScript = Redis & {
  hsmpIncrementAll(numberOfKeys: number, ...keysThenTtl: Array<string | number>): Promise<number[]>;
  hsmpReleaseAll(numberOfKeys: number, ...keys: string[]): Promise<number>;
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

export class RedisCounters implements DailyCounters {
  private readonly redis: RedisWithScript;
  private readonly prefix: string;
  private readonly increments = new GroupCommit<string[], Counts>((batch) => this.incrementBatch(batch), { maxInFlight: 1, maxBatch: MAX_BATCH });

  /** `redis`: a client made by `connectRedis` (or any ioredis client with the same bounds). */
  constructor(redis: Redis, logger: Logger, prefix: string) {
    this.prefix = `${prefix}:quota`;
    this.redis = redis as RedisWithScript;
    this.redis.defineCommand('hsmpIncrementAll', { lua: INCREMENT_ALL });
    this.redis.defineCommand('hsmpReleaseAll', { lua: RELEASE_ALL });
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

  increment(day: string, keys: CounterKeys): Promise<Counts> {
    return this.increments.submit(this.keysOf(day, keys));
  }

  async release(day: string, keys: CounterKeys): Promise<void> {
    await this.call(() => this.redis.hsmpReleaseAll(3, ...this.keysOf(day, keys)));
  }

  private keysOf(day: string, keys: CounterKeys): string[] {
    return [this.key(day, 'user', keys.user), this.key(day, 'ip', keys.ip), this.key(day, 'global', '*')];
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
