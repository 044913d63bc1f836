import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../store/database';
import { kboDumpStages, type DumpRow } from './dump-reader';

/**
 * Imports a CBE dump in ONE transaction: the active numbers are staged (COPY on PostgreSQL;
 * batched inserts on the embedded database, whose socket cannot carry COPY), then merged:
 *   new active numbers become participants; numbers hsmp holds as active that the dump no
 *   longer lists become inactive (HSMP-012); inactive ones the dump lists again become active
 *   unless an operator removed them; migrated ones stay migrated.
 * A malformed dump, or one that would deactivate more than `maxDeactivateShare` of the active
 * registry without `force`, rolls everything back: nothing changes.
 */
export interface ImportOptions {
  force: boolean;
  maxDeactivateShare: number;
  audit: { operator: string; reason?: string };
}

export interface ImportSummary {
  rows: number;
  listedActive: number;
  added: number;
  reactivated: number;
  deactivated: number;
  unchanged: number;
  seconds: number;
}

export class ImportRefused extends Error {
  constructor(
    readonly wouldDeactivate: number,
    readonly active: number,
    readonly maxShare: number,
  ) {
    super(
      `the dump would deactivate ${wouldDeactivate} of ${active} active enterprises (${((100 * wouldDeactivate) / Math.max(active, 1)).toFixed(1)} %, more than ${100 * maxShare} %): refused; use --force if the dump is complete`,
    );
    this.name = 'ImportRefused';
  }
}

const BATCH = 5000;

export async function importKboDump(database: Database, source: Readable, options: ImportOptions): Promise<ImportSummary> {
  const started = process.hrtime.bigint();
  const connection = await database.connectForLongWork();
  const client = connection.client;
  let healthy = true;
  try {
    await client.query('BEGIN');
    // A 2-million-row COPY and merge take longer than the hot path's statement bound.
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query('CREATE TEMP TABLE kbo_listed (enterprise_number char(10) NOT NULL) ON COMMIT DROP');
    const counter = { rows: 0, active: 0 };
    const activeNumbers = new Transform({
      objectMode: true,
      transform(row: DumpRow, _encoding, callback) {
        counter.rows++;
        if (!row.active) return callback();
        counter.active++;
        callback(null, row.enterpriseNumber);
      },
    });
    const sink = database.kind === 'postgres' ? copySink(client) : batchSink(client);
    // The source is not handed to pipeline, so that a refused dump does not destroy the
    // request it came on: the caller can still answer.
    const body = source.pipe(new PassThrough());
    try {
      await pipeline([body, ...kboDumpStages(), activeNumbers, ...sink]);
    } catch (error) {
      source.unpipe(body);
      source.resume();
      throw error;
    }
    const summary = await merge(client, counter, options);
    await client.query('INSERT INTO audit_log (operator, action, target, reason, details) VALUES ($1, $2, $3, $4, $5)', [
      options.audit.operator,
      'import-kbo',
      `${summary.rows} rows`,
      options.audit.reason ?? null,
      JSON.stringify({ ...summary, force: options.force }),
    ]);
    await client.query('COMMIT');
    return { ...summary, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  } catch (error) {
    healthy = await client.query('ROLLBACK').then(() => true, () => false);
    throw error;
  } finally {
    await connection.release(!healthy);
  }
}

async function merge(client: pg.ClientBase, staged: { rows: number; active: number }, options: ImportOptions): Promise<Omit<ImportSummary, 'seconds'>> {
  await client.query('ANALYZE kbo_listed');
  const plan = await client.query<{ active: string; deactivate: string; held: string }>(`
    SELECT (SELECT count(*) FROM enterprise WHERE status = 'active') AS active,
           (SELECT count(*) FROM enterprise e WHERE e.status = 'active'
              AND NOT EXISTS (SELECT 1 FROM kbo_listed l WHERE l.enterprise_number = e.enterprise_number)) AS deactivate,
           (SELECT count(*) FROM enterprise) AS held`);
  const active = Number(plan.rows[0].active);
  const wouldDeactivate = Number(plan.rows[0].deactivate);
  if (!options.force && active > 0 && wouldDeactivate > options.maxDeactivateShare * active) {
    throw new ImportRefused(wouldDeactivate, active, options.maxDeactivateShare);
  }
  // The anti-join skips what hsmp already holds in one pass; ON CONFLICT only meets numbers
  // the dump lists twice.
  const added = await client.query(
    `INSERT INTO enterprise (enterprise_number, status)
     SELECT l.enterprise_number, 'active' FROM kbo_listed l
      WHERE NOT EXISTS (SELECT 1 FROM enterprise e WHERE e.enterprise_number = l.enterprise_number)
     ON CONFLICT (enterprise_number) DO NOTHING`,
  );
  const deactivated = await client.query(
    `UPDATE enterprise e SET status = 'inactive', updated_at = now()
      WHERE e.status = 'active' AND NOT EXISTS (SELECT 1 FROM kbo_listed l WHERE l.enterprise_number = e.enterprise_number)`,
  );
  const reactivated = await client.query(
    `UPDATE enterprise e SET status = 'active', updated_at = now()
      WHERE e.status = 'inactive' AND NOT e.removed_by_operator
        AND EXISTS (SELECT 1 FROM kbo_listed l WHERE l.enterprise_number = e.enterprise_number)`,
  );
  const counts = { added: added.rowCount ?? 0, deactivated: deactivated.rowCount ?? 0, reactivated: reactivated.rowCount ?? 0 };
  return { rows: staged.rows, listedActive: staged.active, ...counts, unchanged: Number(plan.rows[0].held) - counts.deactivated - counts.reactivated };
}

/**
 * PostgreSQL: COPY of one number per line, handed over in ~64 kB pieces (a CopyData message
 * per number would cost more than the COPY itself). The COPY stream finishes once the server
 * has acknowledged it.
 */
function copySink(client: pg.ClientBase): [Transform, Writable] {
  let pending = '';
  const lines = new Transform({
    writableObjectMode: true,
    transform(number: string, _encoding, callback) {
      pending += `${number}\n`;
      if (pending.length < 65_536) return callback();
      const piece = pending;
      pending = '';
      callback(null, piece);
    },
    flush(callback) {
      callback(null, pending || undefined);
    },
  });
  return [lines, client.query(copyFrom('COPY kbo_listed (enterprise_number) FROM STDIN'))];
}

/** The embedded database: multi-row inserts of BATCH numbers. */
function batchSink(client: pg.ClientBase): [Writable] {
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const numbers = batch;
    batch = [];
    await client.query('INSERT INTO kbo_listed (enterprise_number) SELECT unnest($1::text[])', [numbers]);
  };
  const sink = new Writable({
    objectMode: true,
    write(number: string, _encoding, callback) {
      batch.push(number);
      if (batch.length < BATCH) return callback();
      flush().then(() => callback(), callback);
    },
    final(callback) {
      flush().then(() => callback(), callback);
    },
  });
  return [sink];
}
