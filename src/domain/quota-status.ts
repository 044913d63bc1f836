/** A caller's daily quota as the RateLimit headers describe it. */
export interface QuotaStatus {
  limit: number;
  remaining: number;
  /** Seconds until the counter resets (Brussels midnight). */
  resetSeconds: number;
}
