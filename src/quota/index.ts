export type { CounterKind, DailyCounters, DayUsage, DayUsagePage, DayUsageSource, SubjectCount, UsagePage } from './counters';
export { MemoryCounters } from './memory-counters';
export { QuotaPolicy, type Allowance, type Block } from './policy';
export { GLOBAL_SUBJECT, QuotaGuard, type Admission, type BlockPolicy, type Limits } from './quota-guard';
export { RedisCounters, connectRedis } from './redis-counters';
