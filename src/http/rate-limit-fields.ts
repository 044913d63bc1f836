import { serializeList } from 'structured-headers';
import type { QuotaStatus } from '../domain/quota-status';

/** The name of the one quota policy the public route announces: the seat's calendar day. */
export const DAILY_POLICY = 'daily';
const DAY_SECONDS = 86_400;

/**
 * The caller's daily quota as response fields: the structured fields of the current IETF
 * RateLimit draft (`RateLimit-Policy`, `RateLimit`), and the same figures in the three fields
 * of the earlier drafts, which clients written against those still read. Pure, so the exact
 * serialisation is testable without a server.
 */
export function rateLimitFields(quota: QuotaStatus): Record<string, string> {
  const remaining = Math.max(0, quota.remaining);
  return {
    'RateLimit-Policy': serializeList([
      [
        DAILY_POLICY,
        new Map([
          ['q', quota.limit],
          ['w', DAY_SECONDS],
        ]),
      ],
    ]),
    RateLimit: serializeList([
      [
        DAILY_POLICY,
        new Map([
          ['r', remaining],
          ['t', quota.resetSeconds],
        ]),
      ],
    ]),
    'RateLimit-Limit': String(quota.limit),
    'RateLimit-Remaining': String(remaining),
    'RateLimit-Reset': String(quota.resetSeconds),
  };
}
