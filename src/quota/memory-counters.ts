import { SingleFlight } from '../batching/single-flight';
import { dependencyUnavailable } from '../domain/errors';
import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsagePage, DayUsageSource, SubjectCount, UsagePage } from './counters';

/**
 * Counters in this process: atomic because JavaScript runs one increment at a time. One
 * instance only. Like the Redis keys (two-day TTL), the last two days are kept.
 */
const DAYS_KEPT = 2;

export class MemoryCounters implements DailyCounters {
  private readonly days = new Map<string, Map<string, number>>();
  private readonly rebuilds = new SingleFlight();

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

  /** Sorts the whole day per read: one instance counts few enough subjects for that. */
  async usage(day: string, page: UsagePage): Promise<DayUsagePage> {
    const users: SubjectCount[] = [];
    const ips: SubjectCount[] = [];
    let global = 0;
    for (const [key, count] of this.days.get(day) ?? []) {
      const [kind, subject] = splitOnce(key, '|');
      if (kind === 'user') users.push({ subject, count });
      else if (kind === 'ip') ips.push({ subject, count });
      else global = count;
    }
    const pageOf = (counts: SubjectCount[]) => counts.sort(busiestFirst).slice(page.offset, page.offset + page.limit);
    return { global, totals: { users: users.length, ips: ips.length }, users: pageOf(users), ips: pageOf(ips) };
  }

  private rebuild(day: string, source: DayUsageSource): Promise<void> {
    return this.rebuilds.run(day, async () => {
      const usage = await source(day).catch((error: unknown) => {
        throw dependencyUnavailable('database', error);
      });
      if (this.days.has(day)) return;
      const counts = this.countsOf(day);
      counts.set('global|*', usage.global);
      for (const [subject, n] of Object.entries(usage.users)) counts.set(`user|${subject}`, n);
      for (const [subject, n] of Object.entries(usage.ips)) counts.set(`ip|${subject}`, n);
    });
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

/** Redis's order for a sorted set read with ZREVRANGE: score descending, then member descending. */
function busiestFirst(a: SubjectCount, b: SubjectCount): number {
  if (a.count !== b.count) return b.count - a.count;
  return a.subject < b.subject ? 1 : a.subject > b.subject ? -1 : 0;
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + separator.length)];
}
