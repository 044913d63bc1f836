import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsage } from './counters';

/**
 * Counters in this process: atomic because JavaScript runs one increment at a time. One
 * instance only. Like the Redis keys (two-day TTL), the last two days are kept.
 */
const DAYS_KEPT = 2;

export class MemoryCounters implements DailyCounters {
  private readonly days = new Map<string, Map<string, number>>();

  async increment(day: string, keys: CounterKeys): Promise<Counts> {
    const counts = this.countsOf(day);
    const bump = (key: string) => {
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      return n;
    };
    return { user: bump(`user|${keys.user}`), ip: bump(`ip|${keys.ip}`), global: bump('global|*') };
  }

  async release(day: string, keys: CounterKeys): Promise<void> {
    const counts = this.days.get(day);
    if (!counts) return;
    for (const key of [`user|${keys.user}`, `ip|${keys.ip}`, 'global|*']) {
      const n = counts.get(key) ?? 0;
      if (n > 0) counts.set(key, n - 1);
    }
  }

  async reset(day: string, kind: CounterKind, subject: string): Promise<void> {
    this.days.get(day)?.delete(`${kind}|${kind === 'global' ? '*' : subject}`);
  }

  async usage(day: string): Promise<DayUsage> {
    const usage: DayUsage = { users: {}, ips: {}, global: 0 };
    for (const [key, n] of this.days.get(day) ?? []) {
      const [kind, subject] = splitOnce(key, '|');
      if (kind === 'user') usage.users[subject] = n;
      else if (kind === 'ip') usage.ips[subject] = n;
      else usage.global = n;
    }
    return usage;
  }

  async ready(): Promise<void> {}
  async close(): Promise<void> {}

  private countsOf(day: string): Map<string, number> {
    let counts = this.days.get(day);
    if (!counts) {
      counts = new Map();
      this.days.set(day, counts);
      const oldest = [...this.days.keys()].sort().slice(0, -DAYS_KEPT);
      for (const old of oldest) this.days.delete(old);
    }
    return counts;
  }
}

export function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + separator.length)];
}
