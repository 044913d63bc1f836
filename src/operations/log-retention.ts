import type pg from 'pg';
import { brusselsDay } from '../domain/brussels-day';
import type { Logger } from '../log';
import { dropLogDaysBefore, ensureLogDays, type DroppedDay } from '../store/collection-log-days';
import { recordAudit } from './audit';

/**
 * SPEC §5: collection-log rows older than HSMP_LOG_RETENTION_DAYS are removed, cheaply and
 * audited with counts. Each run, on one instance at a time (an advisory lock; the others skip):
 * makes the log's day partitions of today and the week ahead, then drops the days wholly older
 * than the retention, and writes one audit row with what it removed.
 */
export interface RetentionOptions {
  retentionDays: number;
  now: () => Date;
  logger: Logger;
}

export interface RetentionRun {
  cutoff: string;
  days: DroppedDay[];
  rows: number;
}

const DAYS_AHEAD = 7;
const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** Distinct from the migration runner's lock. */
const RETENTION_LOCK = 0x48534d52;

export class LogRetention {
  constructor(
    private readonly pool: pg.Pool,
    private readonly options: RetentionOptions,
  ) {}

  /** One run; undefined when another instance is running it. */
  async run(): Promise<RetentionRun | undefined> {
    const now = this.options.now();
    const cutoff = new Date(now.getTime() - this.options.retentionDays * DAY_MS);
    const client = await this.pool.connect();
    // A connection lost between two statements is reported by the next one; unheard here it
    // would end the process.
    const lost = (error: Error) => {
      this.options.logger.warn({ err: error }, 'collection log retention: database connection lost');
    };
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [RETENTION_LOCK]);
      if (!rows[0].locked) {
        await client.query('ROLLBACK');
        return undefined;
      }
      await ensureLogDays(client, brusselsDay(now), DAYS_AHEAD);
      const { days, strayRows } = await dropLogDaysBefore(client, cutoff);
      const run: RetentionRun = { cutoff: cutoff.toISOString(), days, rows: strayRows + days.reduce((sum, d) => sum + d.rows, 0) };
      if (days.length > 0 || strayRows > 0) {
        await recordAudit(
          client,
          { operator: 'retention', action: 'collection-log-retention', target: 'collection_log', details: { retentionDays: this.options.retentionDays } },
          run,
        );
      }
      await client.query('COMMIT');
      if (run.rows > 0 || days.length > 0) this.options.logger.info(run, 'collection log: days past the retention removed');
      return run;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', lost);
      client.release();
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
