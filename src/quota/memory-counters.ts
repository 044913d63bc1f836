import type { CounterKeys, CounterKind, Counts, DailyCounters, DayUsage } from './counters';

/** Counters in this process: atomic because JavaScript runs one increment at a time. One instance only. */
export class MemoryCounters implements DailyCounters {
  private day = '';
  private counts = new Map<string, number>();

  async increment(day: string, keys: CounterKeys): Promise<Counts> {
    this.rollTo(day);
    return { user: this.bump(`user|${keys.user}`), ip: this.bump(`ip|${keys.ip}`), global: this.bump('global|*') };
  }

  async reset(day: string, kind: CounterKind, subject: string): Promise<void> {
    if (day === this.day) this.counts.delete(`${kind}|${kind === 'global' ? '*' : subject}`);
  }

  async usage(day: string): Promise<DayUsage> {
    const usage: DayUsage = { users: {}, ips: {}, global: 0 };
    if (day !== this.day) return usage;
    for (const [key, n] of this.counts) {
      const [kind, subject] = splitOnce(key, '|');
      if (kind === 'user') usage.users[subject] = n;
      else if (kind === 'ip') usage.ips[subject] = n;
      else usage.global = n;
    }
    return usage;
  }

  async ready(): Promise<void> {}
  async close(): Promise<void> {}

  private rollTo(day: string): void {
    if (day !== this.day) {
      this.day = day;
      this.counts = new Map();
    }
  }

  private bump(key: string): number {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n;
  }
}

export function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + separator.length)];
}
