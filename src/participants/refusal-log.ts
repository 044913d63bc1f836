import type pg from 'pg';
import type { Logger } from '../log';
import { storableText } from '../store/storable-text';
import { parseParticipantId } from './participant-id';
import type { CollectionContext } from './registry';

/**
 * The collection log's rows for refusals decided before the lookup (811/813/812, 010, 001).
 * They are not worth a round trip before the answer, so they wait in a bounded queue and are
 * written in batches behind it (one INSERT per batch), with three rules:
 * - nothing is dropped for a database that is down or slow: a failed batch stays queued and is
 *   tried again with backoff (100 ms doubling to 5 s);
 * - one bad row never costs the others: a batch PostgreSQL refuses for its data is written
 *   row by row, and only a row refused alone is lost (counted);
 * - the queue is bounded (`maxPending`): when it is full, `offer` says no and the caller answers
 *   503 instead of a refusal it could not record. Memory stays bounded; the log stays complete.
 * Rows still queued at shutdown after `drainMs` are counted lost (and logged as a number).
 *
 * A row is named by its request id and the request's time (unique, migrations/008): a batch
 * retried after a timeout that had in fact committed writes each row once, and a row written for
 * an answer (`recordAnswer`: a 503 whose collection committed unacknowledged) replaces the
 * request's row with the outcome it was answered.
 */
export interface Refusal {
  context: CollectionContext;
  environment: string;
  participant: string;
  outcome: string;
}

export interface RefusalLogOptions {
  maxPending: number;
  /** Called with the number of rows given up on (a row PostgreSQL refuses alone, or left at shutdown). */
  onLost: (count: number) => void;
  logger: Logger;
  maxBatch?: number;
}

const MAX_BACKOFF_MS = 5000;

export class RefusalLog {
  private readonly pending: Refusal[] = [];
  private flushing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: RefusalLogOptions,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  /** Queues a refusal; false when the queue is full (the caller must not answer the refusal). */
  offer(refusal: Refusal): boolean {
    if (this.closed || this.pending.length >= this.options.maxPending) return false;
    this.pending.push({
      context: { ...refusal.context, seatId: storableText(refusal.context.seatId), clientIp: storableText(refusal.context.clientIp) },
      environment: storableText(refusal.environment.slice(0, 32)),
      participant: storableText(refusal.participant.slice(0, 256)),
      outcome: refusal.outcome,
    });
    if (!this.retryTimer) this.flushing ??= this.flush();
    return true;
  }

  /** Writes what is queued, for at most `drainMs`; counts the rest lost. */
  async close(drainMs = 2000): Promise<void> {
    this.closed = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.backoffMs = 0;
      this.flushing ??= this.flush();
    }
    await Promise.race([this.flushing, new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
    if (this.pending.length > 0) {
      this.options.logger.error({ rows: this.pending.length }, 'collection log rows not written at shutdown');
      this.options.onLost(this.pending.splice(0).length);
    }
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.slice(0, this.options.maxBatch ?? 256);
        try {
          await this.insert(batch);
        } catch (error) {
          if (!isDataError(error)) {
            this.retryLater(error);
            return;
          }
          await this.insertOneByOne(batch);
        }
        this.pending.splice(0, batch.length);
        this.backoffMs = 0;
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private retryLater(error: unknown): void {
    if (this.backoffMs === 0) this.options.logger.warn({ err: error, queued: this.pending.length }, 'collection log: database unavailable, refusals queued');
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2 || 100);
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flushing ??= this.flush();
    }, this.backoffMs);
    this.retryTimer.unref();
  }

  private async insertOneByOne(batch: Refusal[]): Promise<void> {
    for (const row of batch) {
      try {
        await this.insert([row]);
      } catch (error) {
        if (!isDataError(error)) throw error;
        this.options.logger.error({ err: error, requestId: row.context.requestId }, 'collection log refused a row');
        this.options.onLost(1);
      }
    }
  }

  private insert(batch: Refusal[]): Promise<unknown> {
    return this.pool.query({
      name: 'hsmp_log_outcomes',
      text: `INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, outcome, enterprise_number)
             SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::char(10)[])
             ON CONFLICT (request_id, collected_at) DO UPDATE SET outcome = EXCLUDED.outcome`,
      values: [
        batch.map((r) => r.context.requestId),
        batch.map((r) => r.context.requestedAt),
        batch.map((r) => r.context.seatId),
        batch.map((r) => r.context.fingerprint),
        batch.map((r) => r.context.clientIp),
        batch.map((r) => r.environment),
        batch.map((r) => r.participant),
        batch.map((r) => r.outcome),
        batch.map((r) => parseParticipantId(r.participant)?.enterpriseNumber ?? null),
      ],
    });
  }
}

/** PostgreSQL refused the data (SQLSTATE classes 22 and 23), not the connection. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
