import { Transform, type TransformCallback } from 'node:stream';
import { parse } from 'csv-parse';
import { hasValidCheckDigits } from '../participants/participant-id';

/**
 * Reads the CBE (KBO) open-data enterprise.csv as a stream of enterprise numbers, checking
 * every line: strict UTF-8, the exact header, seven fields, a valid dotted enterprise number,
 * a status code and a dd-mm-yyyy start date. The first problem stops the stream with a
 * KboDumpError naming the line, so that the import can roll everything back.
 */
export const KBO_HEADER = ['EnterpriseNumber', 'Status', 'JuridicalSituation', 'TypeOfEnterprise', 'JuridicalForm', 'JuridicalFormCAC', 'StartDate'];
/** The dump lists active enterprises with status AC. */
export const ACTIVE_STATUS = 'AC';

export class KboDumpError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'KboDumpError';
  }
}

export interface DumpRow {
  enterpriseNumber: string;
  active: boolean;
}

const DOTTED_NUMBER = /^([01][0-9]{3})\.([0-9]{3})\.([0-9]{3})$/;
const DATE = /^(\d{2})-(\d{2})-(\d{4})$/;
const STATUS = /^[A-Z]{2}$/;

/** The stages that turn bytes into DumpRow objects, for stream.pipeline. */
export function kboDumpStages(): [Transform, Transform, Transform] {
  return [new StrictUtf8Decoder(), parse({ bom: true, relax_column_count: false, skip_empty_lines: true, info: true }), new RowValidator()];
}

/** csv-parse's own errors (unclosed quote, wrong field count…) as a KboDumpError with its line. */
export function asDumpError(error: unknown): unknown {
  const csv = error as { code?: string; lines?: number };
  if (typeof csv.code === 'string' && csv.code.startsWith('CSV_')) return new KboDumpError(csv.lines ?? 0, `not valid CSV (${csv.code})`);
  return error;
}

class StrictUtf8Decoder extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  linesSeen = 1;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const text = this.decoder.decode(chunk, { stream: true });
      this.linesSeen += countNewlines(text);
      callback(null, text);
    } catch {
      callback(new KboDumpError(this.linesSeen, 'not UTF-8 text'));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      callback(null, this.decoder.decode());
    } catch {
      callback(new KboDumpError(this.linesSeen, 'not UTF-8 text (truncated character at the end)'));
    }
  }
}

class RowValidator extends Transform {
  private sawHeader = false;
  rows = 0;

  constructor() {
    super({ objectMode: true });
  }

  override _transform(record: { record: string[]; info: { lines: number } }, _encoding: BufferEncoding, callback: TransformCallback): void {
    const { record: fields, info } = record;
    const line = info.lines;
    if (!this.sawHeader) {
      this.sawHeader = true;
      const header = fields.map((f) => f.trim());
      if (header.join(',') !== KBO_HEADER.join(',')) return callback(new KboDumpError(line, `header must be ${KBO_HEADER.join(',')}`));
      return callback();
    }
    const problem = rowProblem(fields);
    if (problem) return callback(new KboDumpError(line, problem));
    this.rows++;
    const match = DOTTED_NUMBER.exec(fields[0])!;
    callback(null, { enterpriseNumber: match[1] + match[2] + match[3], active: fields[1] === ACTIVE_STATUS } satisfies DumpRow);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.sawHeader) return callback(new KboDumpError(1, 'empty file: no header'));
    if (this.rows === 0) return callback(new KboDumpError(2, 'no enterprise rows'));
    callback();
  }
}

function rowProblem(fields: string[]): string | undefined {
  const [number, status, , , , , startDate] = fields;
  const dotted = DOTTED_NUMBER.exec(number);
  if (!dotted || !hasValidCheckDigits(dotted[1] + dotted[2] + dotted[3])) return `EnterpriseNumber "${number.slice(0, 40)}" is not a valid enterprise number (dddd.ddd.ddd, mod 97)`;
  if (!STATUS.test(status)) return `Status "${status.slice(0, 40)}" is not a status code`;
  const date = DATE.exec(startDate);
  if (!date || !isCalendarDate(Number(date[3]), Number(date[2]), Number(date[1]))) return `StartDate "${startDate.slice(0, 40)}" is not a dd-mm-yyyy date`;
  return undefined;
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
