import Redis from 'ioredis';
import { dependencyUnavailable } from '../domain/errors';
import type { Logger } from '../log';
import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsage } from './counters';
import { splitOnce } from './memory-counters';

/**
 * Counters in Redis, shared by every instance. The three increments of one query run as one
 * Lua script: one round trip, atomic. Keys live two days, then Redis forgets them. Redis
 * unreachable → 503 HSMP-999 at once (no offline queue): no key leaves uncounted.
 */
const INCREMENT_THREE = `
local ttl = tonumber(ARGV[1])
local counts = {}
for i = 1, 3 do
  counts[i] = redis.call('INCR', KEYS[i])
  if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return counts`;

const TTL_SECONDS = 2 * 24 * 3600;

type RedisWithScript = Redis & { hsmpIncrementThree(user: string, ip: string, global: string, ttl: number): Promise<[number, number, number]> };

export class RedisCounters implements DailyCounters {
  private readonly redis: RedisWithScript;
  private readonly prefix: string;

  constructor(
    url: string,
    logger: Logger,
    prefix: string,
  ) {
    this.prefix = `${prefix}:quota`;
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 2000,
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      lazyConnect: true,
    }) as RedisWithScript;
    this.redis.defineCommand('hsmpIncrementThree', { numberOfKeys: 3, lua: INCREMENT_THREE });
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
    const [user, ip, global] = await this.call(() =>
      this.redis.hsmpIncrementThree(this.key(day, 'user', keys.user), this.key(day, 'ip', keys.ip), this.key(day, 'global', '*'), TTL_SECONDS),
    );
    return { user, ip, global };
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
