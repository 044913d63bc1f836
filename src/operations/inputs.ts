import { z } from 'zod';
import { isCalendarDate } from '../domain/calendar-date';
import { ENVIRONMENTS } from '../domain/environment';
import { MAX_DATASETS } from '../participants/datasets';
import { parseParticipantId } from '../participants/participant-id';
import { BadRequest } from './errors';

/**
 * What each operator operation takes, once: the admin API parses requests with these, and the
 * OpenAPI document describes the same shapes. Bad input is a BadRequest naming the field.
 */
/**
 * Operator text that reaches PostgreSQL: a `text` value cannot hold NUL, so a NUL is bad input
 * (400 naming the field), not a query that fails as a 500.
 */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((t) => !t.includes('\u0000'), { error: 'must not contain NUL' });
const reason = text(1000).trim().min(1).optional();
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
  .refine((d) => isCalendarDate(Number(d.slice(0, 4)), Number(d.slice(5, 7)), Number(d.slice(8, 10))), { error: 'not a day of the calendar' });
/** The daily limit column is a PostgreSQL integer. */
const MAX_DAILY_LIMIT = 2_147_483_647;

export const INPUTS = {
  reactivation: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('user'), seatId: text(128).min(1), environment: z.enum(ENVIRONMENTS).optional(), reason }),
    z.object({ kind: z.literal('ip'), address: text(64).min(1), reason }),
    z.object({ kind: z.literal('global'), reason }),
  ]),
  allowanceGrant: z
    .object({
      seatId: text(128).min(1),
      environment: z.enum(ENVIRONMENTS).optional(),
      limit: z.number().int().positive().max(MAX_DAILY_LIMIT),
      from: z.iso.datetime({ offset: true }),
      to: z.iso.datetime({ offset: true }),
      reason,
    })
    .refine((g) => Date.parse(g.to) > Date.parse(g.from), { error: '"to" must be after "from"' }),
  allowanceId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  withReason: z.object({ reason }).default({}),
  /** mark-migrated, restore: one environment, or (absent) every environment served. */
  perEnvironment: z.object({ environment: z.enum(ENVIRONMENTS).optional(), reason }).default({}),
  /** A revocation says why: the audit log is what tells, later, which key was revoked and for what. */
  keyRevocation: z.object({ environment: z.enum(ENVIRONMENTS).optional(), reason: z.string().trim().min(1).max(1000) }),
  usage: z.object({
    day: day.optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  }),
  seed: z.object({ datasets: z.number().int().min(1).max(MAX_DATASETS).default(1), reason }).default({ datasets: 1 }),
  importKbo: z.object({ force: z.enum(['true', 'false']).default('false'), reason }),
  logQuery: z.object({
    day: day.optional(),
    operator: text(128).optional(),
    seatId: text(128).optional(),
    participant: text(128).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  smlReconcile: z
    .object({
      environment: z.enum(ENVIRONMENTS).optional(),
      force: z.boolean().default(false),
      /** Only the counts: read the listing and judge, change nothing. */
      dryRun: z.boolean().default(false),
      reason,
    })
    .default({ force: false, dryRun: false }),
  smlPrepare: z
    .object({
      environment: z.enum(ENVIRONMENTS).optional(),
      /** SML calls per second at most; absent: as fast as HSMP_SML_PREPARE_CONCURRENCY calls in flight go. */
      rate: z.number().int().min(1).max(100_000).optional(),
      reason,
    })
    .default({}),
  jobId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).transform(String),
  jobList: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
  /** Hold the answer until the job's revision is above `after` or it ended, `wait` seconds at most. */
  jobWait: z.object({
    wait: z.coerce.number().min(0).max(25).default(0),
    after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  }),
} as const;

export type Inputs = { [K in keyof typeof INPUTS]: z.infer<(typeof INPUTS)[K]> };

export function parseInput<K extends keyof typeof INPUTS>(name: K, value: unknown): Inputs[K] {
  const result = INPUTS[name].safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BadRequest(`${issue.path.join('.') || 'request'}: ${issue.message}`);
  }
  return result.data as Inputs[K];
}

/** An enterprise number in any accepted spelling, as its ten digits. */
export function parseEnterpriseNumber(raw: string): string {
  const parsed = parseParticipantId(raw);
  if (!parsed) throw new BadRequest(`not a valid enterprise number: ${raw.slice(0, 64)}`);
  return parsed.enterpriseNumber;
}
