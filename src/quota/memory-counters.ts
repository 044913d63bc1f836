import { dependencyUnavailable } from '../domain/errors';
import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsage, DayUsageSource } from './counters';

/**
 * Counters in this process: atomic because JavaScript runs one increment at a time. One
 * instance only. Like the Redis keys (two-day TTL), the last two days are kept.
 */
const DAYS_KEPT = 2;

export class MemoryCounters implements DailyCounters {
  private readonly days = new Map<string, Map<string, number>>();
  private readonly rebuilds = new Map<string, Promise<void>>();

  /**
   * `usageFromLog`: where a day this process has not counted yet starts from, so that a
   * restarted process does not hand out a fresh quota. Absent: from zero.
   */
  constructor(private readonly usageFromLog?: DayUsageSource) {}

  async increment(day: string, keys: CounterKeys): Promise<Counts> {
    if (!this.days.has(day) && this.usageFromLog) await this.rebuild(day, this.usageFromLog);
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

  private rebuild(day: string, source: DayUsageSource): Promise<void> {
    let running = this.rebuilds.get(day);
    if (!running) {
      running = source(day)
        .then(
          (usage) => {
            if (this.days.has(day)) return;
            const counts = this.countsOf(day);
            counts.set('global|*', usage.global);
            for (const [subject, n] of Object.entries(usage.users)) counts.set(`user|${subject}`, n);
            for (const [subject, n] of Object.entries(usage.ips)) counts.set(`ip|${subject}`, n);
          },
          (error: unknown) => {
            throw dependencyUnavailable('database', error);
          },
        )
        .finally(() => this.rebuilds.delete(day));
      this.rebuilds.set(day, running);
    }
    return running;
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
