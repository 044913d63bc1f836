import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../store/database';
import { kboActiveNumbers, type DumpCounts } from './dump-reader';
import { AdminProblem } from '../domain/errors';
import { recordAudit } from '../store/audit-log';
import { mergeCbeListing } from '../participants/enterprise-repository';

/**
 * Imports a CBE dump in ONE transaction: the active numbers are staged (COPY on PostgreSQL;
 * batched inserts on the embedded database, whose socket cannot carry COPY), then merged in
 * one statement:
 *   new active numbers become participants; numbers hsmp holds as active that the dump no
 *   longer lists become inactive (HSMP-012); inactive ones the dump lists again become active
 *   unless an operator removed them. Deactivation applies to every environment; a participant's
 *   migration (participant_migration) is never touched, so it holds again once listed again.
 * A malformed dump, a dump of more than `maxBytes`, or one that would deactivate more than
 * `maxDeactivateShare` of the active registry without `force`, rolls everything back: nothing
 * changes.
 */
export interface ImportOptions {
  force: boolean;
  maxDeactivateShare: number;
  maxBytes: number;
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
  /** Of `seconds`, the merge: what the import costs beyond reading and staging the dump. */
  mergeSeconds: number;
}

export class ImportRefused extends AdminProblem {
  constructor(
    readonly wouldDeactivate: number,
    readonly active: number,
    readonly maxShare: number,
  ) {
    super(
      'import-refused',
      `the dump would deactivate ${wouldDeactivate} of ${active} active enterprises (${((100 * wouldDeactivate) / Math.max(active, 1)).toFixed(1)} %, more than ${100 * maxShare} %): refused; use --force if the dump is complete; nothing was changed`,
    );
  }
}

export class DumpTooLarge extends AdminProblem {
  constructor(readonly maxBytes: number) {
    super('dump-too-large', `the dump is larger than ${maxBytes} bytes (HSMP_IMPORT_MAX_BYTES); nothing was changed`);
  }
}

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
    const dump = kboActiveNumbers();
    const sink = database.capabilities.canCopy ? copySink(client) : batchSink(client);
    // The source is not handed to pipeline, so that a refused dump does not destroy the
    // request it came on: the caller can still answer.
    const body = source.pipe(new PassThrough());
    try {
      await pipeline([body, byteLimit(options.maxBytes), ...dump.stages, ...sink]);
    } catch (error) {
      source.unpipe(body);
      source.resume();
      throw error;
    }
    const merging = process.hrtime.bigint();
    const summary = { ...(await merge(client, dump.counts, options)), mergeSeconds: secondsSince(merging) };
    await recordAudit(client, {
      operator: options.audit.operator,
      action: 'import-kbo',
      target: `${summary.rows} rows`,
      reason: options.audit.reason,
      details: { ...summary, force: options.force },
    });
    await client.query('COMMIT');
    return { ...summary, seconds: secondsSince(started) };
  } catch (error) {
    healthy = await client.query('ROLLBACK').then(
      () => true,
      () => false,
    );
    throw error;
  } finally {
    await connection.release(!healthy);
  }
}

async function merge(client: pg.ClientBase, counts: DumpCounts, options: ImportOptions): Promise<Omit<ImportSummary, 'seconds' | 'mergeSeconds'>> {
  await client.query('ANALYZE kbo_listed');
  const { added, deactivated, reactivated, active, held } = await mergeCbeListing(client);
  if (!options.force && active > 0 && deactivated > options.maxDeactivateShare * active) {
    throw new ImportRefused(deactivated, active, options.maxDeactivateShare);
  }
  return { rows: counts.rows, listedActive: counts.active, added, deactivated, reactivated, unchanged: held - deactivated - reactivated };
}

function byteLimit(maxBytes: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback(bytes > maxBytes ? new DumpTooLarge(maxBytes) : null, chunk);
    },
  });
}

const secondsSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * PostgreSQL: COPY of one number per line, a batch of numbers per CopyData message (a
 * message per number would cost more than the COPY itself). The COPY stream finishes once the
 * server has acknowledged it.
 */
function copySink(client: pg.ClientBase): [Transform, Writable] {
  const lines = new Transform({
    writableObjectMode: true,
    transform(numbers: string[], _encoding, callback) {
      callback(null, `${numbers.join('\n')}\n`);
    },
  });
  return [lines, client.query(copyFrom('COPY kbo_listed (enterprise_number) FROM STDIN'))];
}

/** The embedded database, whose socket cannot carry COPY: one multi-row insert per batch. */
function batchSink(client: pg.ClientBase): [Writable] {
  return [
    new Writable({
      objectMode: true,
      write(numbers: string[], _encoding, callback) {
        client.query('INSERT INTO kbo_listed (enterprise_number) SELECT unnest($1::text[])', [numbers]).then(() => {
          callback();
        }, callback);
      },
    }),
  ];
}
