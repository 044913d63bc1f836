import { brusselsDay } from '../domain/brussels-day';
import type { Logger } from '../log';
import { ensureLogDays, foldOldestSealedMonth, removeLogBefore, type RemovedDay } from '../store/collection-log-partitions';
import { recordAudit } from '../store/audit-log';
import type { Database, LongWorkClient } from '../store/database';

/**
 * SPEC §5: collection-log rows older than HSMP_LOG_RETENTION_DAYS are removed, cheaply and
 * audited with counts. Each run, on one instance at a time (an advisory lock; the others skip):
 * makes the log's day partitions of today and the week ahead, removes the days wholly older than
 * the retention and writes one audit row with what it removed; then, in a transaction of its
 * own (the removal's locks are released first), folds the oldest sealed month's days into one
 * partition, so that a year of log is ~45 partitions for the operators' reads, not ~373. One
 * month a run bounds a run's work: a database upgraded with a year of days folds it in a day.
 */
export interface RetentionOptions {
  retentionDays: number;
  now: () => Date;
  logger: Logger;
}

export interface RetentionRun {
  cutoff: string;
  days: RemovedDay[];
  rows: number;
  /** The month folded by this run (its first day) and the rows moved. */
  folded?: { month: string; rows: number };
}

const DAYS_AHEAD = 7;
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** A month is folded once it ended a day ago: no row of it is written after (late writes are queued refusals, seconds late). */
const SEALED_AFTER_MS = DAY_MS;
/** A month's fold at production size takes 15-25 s (bench:scale); a fold stuck far past that is stopped and tried again. */
const FOLD_TIMEOUT = '15min';
/** Distinct from the migration runner's lock; also taken by hsmp_collection_log_day (migrations/012), which any partition maker calls. */
const RETENTION_LOCK = 0x48534d52;

export class LogRetention {
  constructor(
    private readonly database: Pick<Database, 'connectForLongWork'>,
    private readonly options: RetentionOptions,
  ) {}

  /** One run; undefined when another instance is running it. */
  async run(): Promise<RetentionRun | undefined> {
    const now = this.options.now();
    const cutoff = new Date(now.getTime() - this.options.retentionDays * DAY_MS);
    // A month's fold outlasts the hot path's statement bound: a connection for long work.
    const connection = await this.database.connectForLongWork();
    const client = connection.client;
    let healthy = true;
    try {
      const run = await this.locked(client, async () => {
        await ensureLogDays(client, brusselsDay(now), DAYS_AHEAD);
        const { days, strayRows } = await removeLogBefore(client, cutoff);
        const removal: RetentionRun = { cutoff: cutoff.toISOString(), days, rows: strayRows + days.reduce((sum, d) => sum + d.rows, 0) };
        if (days.length > 0 || strayRows > 0) {
          await recordAudit(
            client,
            { operator: 'retention', action: 'collection-log-retention', target: 'collection_log', details: { retentionDays: this.options.retentionDays } },
            removal,
          );
        }
        return removal;
      });
      if (run === undefined) return undefined;
      if (run.rows > 0 || run.days.length > 0) this.options.logger.info(run, 'collection log: days past the retention removed');
      try {
        const started = Date.now();
        run.folded = await this.locked(client, async () => {
          await client.query(`SELECT set_config('statement_timeout', $1, true)`, [FOLD_TIMEOUT]);
          return foldOldestSealedMonth(client, new Date(now.getTime() - SEALED_AFTER_MS));
        });
        if (run.folded) this.options.logger.info({ ...run.folded, ms: Date.now() - started }, 'collection log: a sealed month folded into one partition');
      } catch (error) {
        // The removal stands; the fold is tried again at the next run.
        this.options.logger.warn({ err: error }, 'collection log: folding a sealed month did not finish; tried again at the next run');
      }
      return run;
    } catch (error) {
      healthy = false;
      throw error;
    } finally {
      await connection.release(!healthy);
    }
  }

  /** `body` in a transaction holding the retention's lock; undefined when another instance holds it. */
  private async locked<T>(client: LongWorkClient['client'], body: () => Promise<T>): Promise<T | undefined> {
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [RETENTION_LOCK]);
      if (!rows[0].locked) {
        await client.query('ROLLBACK');
        return undefined;
      }
      const result = await body();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Runs now and then every hour; returns the function that stops it. */
  schedule(intervalMs = HOUR_MS): () => void {
    const runOnce = () => {
      this.run().catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'collection log retention did not run; tried again at the next interval');
      });
    };
    const first = setTimeout(runOnce, 0);
    const timer = setInterval(runOnce, intervalMs);
    first.unref();
    timer.unref();
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }
}
