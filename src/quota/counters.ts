/**
 * Daily counters: one interface, two stores (Redis for any number of instances, memory for
 * one), like rate-limiter-flexible's limiters. One query increments the user, IP and global
 * counters of its Brussels day in one atomic step, so concurrent queries, on one instance or
 * many, each see a distinct count and exactly `limit` of them stay within it.
 */
export type CounterKind = 'user' | 'ip' | 'global';

export interface CounterKeys {
  /** '<environment>:<seat id>' */
  user: string;
  ip: string;
}

export interface Counts {
  user: number;
  ip: number;
  global: number;
}

export interface DayUsage {
  users: Record<string, number>;
  ips: Record<string, number>;
  global: number;
}

/** Which slice of a day's busiest users and addresses to read: `limit` of each, from `offset`. */
export interface UsagePage {
  limit: number;
  offset: number;
}

export interface SubjectCount {
  subject: string;
  count: number;
}

/**
 * A day's usage as an operator reads it: the global count, how many users and addresses were
 * counted, and one page of each, busiest first (ties in descending subject order, as Redis
 * ranks them). Its cost does not grow with the number of subjects: a day under attack counts
 * tens of thousands of addresses.
 */
export interface DayUsagePage {
  global: number;
  totals: { users: number; ips: number };
  users: SubjectCount[];
  ips: SubjectCount[];
}

/**
 * A day's counts as the durable collection log tells them: what a store that lost its
 * counters (Redis restarted or flushed, the process restarted) starts the day again from.
 */
export type DayUsageSource = (day: string) => Promise<DayUsage>;

export interface DailyCounters {
  /** Counts one query against the three counters of `day` and returns the new values. */
  increment(day: string, keys: CounterKeys): Promise<Counts>;
  /**
   * Gives back one query that `increment` counted and that ended in a 5xx: nothing was answered,
   * so it must not use up the caller's quota (SPEC §2: nothing counted twice for a retry).
   */
  release(day: string, keys: CounterKeys): Promise<void>;
  /** Forgets a counter of `day` (an operator reactivated its subject). */
  reset(day: string, kind: CounterKind, subject: string): Promise<void>;
  /** One page of the day's usage, busiest first (see `DayUsagePage`). */
  usage(day: string, page: UsagePage): Promise<DayUsagePage>;
  ready(): Promise<void>;
  close(): Promise<void>;
}
