import Redis from 'ioredis';
import { dependencyUnavailable } from '../domain/errors';
import type { Logger } from '../log';
import { GroupCommit } from '../batching/group-commit';
import { SingleFlight } from '../batching/single-flight';
import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsagePage, DayUsageSource, SubjectCount, UsagePage } from './counters';

/**
 * Counters in Redis, shared by every instance. The three increments of one query run inside
 * one Lua script, atomic. Queries that arrive while a script is running wait and go together
 * in the next one (group commit, as for the database): one round trip for the batch, and
 * within it each query's three increments in turn, exactly as if sent one by one. Keys live
 * two days, then Redis forgets them. Redis unreachable → 503 HSMP-999 at once (no offline
 * queue): no key leaves uncounted.
 *
 * Beside the counters, each day keeps a ranking per kind (a sorted set of users, one of IPs,
 * scored by their count), changed in the same scripts as the counters, so that `usage` reads
 * one page with ZREVRANGE instead of scanning and sorting every counter of the day (773 ms at
 * 20 000 addresses). A ranking takes the counter's new value (ZADD, not ZINCRBY): a ranking
 * that drifted from its counter (lost apart from it) is right again at the next query.
 *
 * Per query: KEYS = marker, user, IP, global counters, user ranking, IP ranking;
 * ARGV = TTL, then per query the user's and the IP's subject.
 */
const INCREMENT_ALL = `
local ttl = tonumber(ARGV[1])
local counts = {}
for q = 0, #KEYS / 6 - 1 do
  local base = q * 6
  if redis.call('EXISTS', KEYS[base + 1]) == 0 then
    for i = 1, 3 do counts[q * 3 + i] = -1 end
  else
    for i = 1, 3 do
      local n = redis.call('INCR', KEYS[base + 1 + i])
      if n == 1 then redis.call('EXPIRE', KEYS[base + 1 + i], ttl) end
      counts[q * 3 + i] = n
      if i < 3 then
        local ranking = KEYS[base + 4 + i]
        if redis.call('ZADD', ranking, n, ARGV[1 + q * 2 + i]) == 1 and redis.call('TTL', ranking) < 0 then
          redis.call('EXPIRE', ranking, ttl)
        end
      end
    end
  end
end
return counts`;

/**
 * Writes a day's counters and rankings as rebuilt from the collection log, and the day's marker,
 * unless the marker is there already (another instance rebuilt first, and queries count again
 * since). The rankings start again from the log alone, like the counters it rebuilds.
 *
 * KEYS = marker, user ranking, IP ranking, global counter, user counters, IP counters;
 * ARGV = TTL, number of users, then per counter its subject and its count.
 */
const SEED_DAY = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = ARGV[1]
local users = tonumber(ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
for i = 4, #KEYS do
  local j = i - 3
  local count = ARGV[2 + 2 * j]
  redis.call('SET', KEYS[i], count, 'EX', ttl)
  if j > 1 then
    local ranking = KEYS[3]
    if j <= users + 1 then ranking = KEYS[2] end
    redis.call('ZADD', ranking, count, ARGV[1 + 2 * j])
  end
end
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('SET', KEYS[1], '1', 'EX', ttl)
return 1`;

/**
 * Never below zero: an operator may have reset the counter between the increment and this.
 * KEYS = user, IP, global counters, user ranking, IP ranking; ARGV = the user's and the IP's subject.
 */
const RELEASE_ALL = `
for i = 1, 3 do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n > 0 then
    redis.call('DECR', KEYS[i])
    if i < 3 then redis.call('ZADD', KEYS[3 + i], 'XX', n - 1, ARGV[i]) end
  end
end
return 0`;

/** KEYS = the counter, then (user and IP counters) its ranking; ARGV = the subject. */
const RESET = `
redis.call('DEL', KEYS[1])
if #KEYS > 1 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return 0`;

const TTL_SECONDS = 2 * 24 * 3600;
const MAX_REBUILDS_PER_QUERY = 3;
/** Queries per script run: bounds how long one run holds Redis. */
const MAX_BATCH = 128;

interface Increment {
  keys: string[];
  subjects: string[];
}

type RedisWithScript = Redis & {
  hsmpIncrementAll(numberOfKeys: number, ...keysThenArguments: Array<string | number>): Promise<number[]>;
  hsmpReleaseAll(numberOfKeys: number, ...keysThenSubjects: string[]): Promise<number>;
  hsmpReset(numberOfKeys: number, ...keysThenSubject: string[]): Promise<number>;
  hsmpSeedDay(numberOfKeys: number, ...keysThenArguments: Array<string | number>): Promise<number>;
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
  private readonly increments = new GroupCommit<Increment, Counts>((batch) => this.incrementBatch(batch), { maxInFlight: 1, maxBatch: MAX_BATCH });
  private readonly rebuilds = new SingleFlight();

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
    this.redis.defineCommand('hsmpReset', { lua: RESET });
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
      const counts = await this.increments.submit({
        keys: [this.markerKey(day), ...this.keysOf(day, keys), this.rankingKey(day, 'user'), this.rankingKey(day, 'ip')],
        subjects: [keys.user, keys.ip],
      });
      if (counts.user >= 0) return counts;
      // Lost again while rebuilding (Redis restarting twice): give up on this query, not the day.
      if (attempt === MAX_REBUILDS_PER_QUERY) throw dependencyUnavailable('redis', new Error(`the quota counters of ${day} keep disappearing`));
      await this.rebuild(day);
    }
  }

  /** One rebuild of a day at a time in this instance; the script decides between instances. */
  private rebuild(day: string): Promise<void> {
    return this.rebuilds.run(day, () => this.seed(day));
  }

  private async seed(day: string): Promise<void> {
    const usage = await this.usageFromLog(day).catch((error: unknown) => {
      throw dependencyUnavailable('database', error);
    });
    const users = Object.entries(usage.users);
    const counters: Array<[string, string, number]> = [
      [this.key(day, 'global', '*'), '*', usage.global],
      ...users.map(([subject, n]): [string, string, number] => [this.key(day, 'user', subject), subject, n]),
      ...Object.entries(usage.ips).map(([subject, n]): [string, string, number] => [this.key(day, 'ip', subject), subject, n]),
    ];
    const keys = [this.markerKey(day), this.rankingKey(day, 'user'), this.rankingKey(day, 'ip'), ...counters.map(([key]) => key)];
    const seeded = await this.call(() =>
      this.redis.hsmpSeedDay(keys.length, ...keys, TTL_SECONDS, users.length, ...counters.flatMap(([, subject, n]) => [subject, n])),
    );
    if (seeded === 1 && usage.global > 0)
      this.logger.warn(
        { day, global: usage.global, users: users.length, ips: Object.keys(usage.ips).length },
        'quota counters were missing in Redis (restart, failover or flush): rebuilt from the collection log',
      );
  }

  async release(day: string, keys: CounterKeys): Promise<void> {
    const rankings = [this.rankingKey(day, 'user'), this.rankingKey(day, 'ip')];
    await this.call(() => this.redis.hsmpReleaseAll(5, ...this.keysOf(day, keys), ...rankings, keys.user, keys.ip));
  }

  private keysOf(day: string, keys: CounterKeys): string[] {
    return [this.key(day, 'user', keys.user), this.key(day, 'ip', keys.ip), this.key(day, 'global', '*')];
  }

  /** Outside the `<prefix>:quota:<day>:*` counters, so that no counter is named like it. */
  private markerKey(day: string): string {
    return `${this.prefix}-rebuilt:${day}`;
  }

  private rankingKey(day: string, kind: 'user' | 'ip'): string {
    return `${this.prefix}-ranking:${day}:${kind}`;
  }

  private async incrementBatch(batch: Increment[]): Promise<Counts[]> {
    const keys = batch.flatMap((increment) => increment.keys);
    const subjects = batch.flatMap((increment) => increment.subjects);
    const counts = await this.call(() => this.redis.hsmpIncrementAll(keys.length, ...keys, TTL_SECONDS, ...subjects));
    return batch.map((_, i) => ({ user: counts[3 * i], ip: counts[3 * i + 1], global: counts[3 * i + 2] }));
  }

  async reset(day: string, kind: CounterKind, subject: string): Promise<void> {
    if (kind === 'global') await this.call(() => this.redis.hsmpReset(1, this.key(day, 'global', '*')));
    else await this.call(() => this.redis.hsmpReset(2, this.key(day, kind, subject), this.rankingKey(day, kind), subject));
  }

  /** Two ZCARDs, two ZREVRANGEs and a GET in one transaction: a consistent page at any size. */
  async usage(day: string, page: UsagePage): Promise<DayUsagePage> {
    const stop = page.offset + page.limit - 1;
    const answers = await this.call(() =>
      this.redis
        .multi()
        .get(this.key(day, 'global', '*'))
        .zcard(this.rankingKey(day, 'user'))
        .zcard(this.rankingKey(day, 'ip'))
        .zrevrange(this.rankingKey(day, 'user'), page.offset, stop, 'WITHSCORES')
        .zrevrange(this.rankingKey(day, 'ip'), page.offset, stop, 'WITHSCORES')
        .exec(),
    );
    const [global, users, ips, usersPage, ipsPage] = (answers ?? []).map(([error, answer]) => {
      if (error) throw dependencyUnavailable('redis', error);
      return answer;
    }) as [string | null, number, number, string[], string[]];
    return { global: Number(global ?? 0), totals: { users, ips }, users: subjectCounts(usersPage), ips: subjectCounts(ipsPage) };
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

/** ZREVRANGE ... WITHSCORES answers member, score, member, score... */
function subjectCounts(membersAndScores: string[]): SubjectCount[] {
  const counts: SubjectCount[] = [];
  for (let i = 0; i < membersAndScores.length; i += 2) counts.push({ subject: membersAndScores[i], count: Number(membersAndScores[i + 1]) });
  return counts;
}
