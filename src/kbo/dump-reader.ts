import { Transform, type TransformCallback } from 'node:stream';
import Papa from 'papaparse';
import { hasValidCheckDigits } from '../participants/participant-id';

/**
 * Reads the CBE (KBO) open-data enterprise.csv as a stream of enterprise numbers, checking
 * every line: strict UTF-8, the exact header, seven fields, a valid dotted enterprise number,
 * a status code and a dd-mm-yyyy start date. The first problem stops the stream with a
 * KboDumpError naming the line, so that the import can roll everything back.
 *
 * CSV parsing is papaparse's (measured here: 100 000 rows in 0.34 s, against 0.75 s for
 * csv-parse, which alone would have kept the import under half of psql's \copy speed). Its
 * stream mode does not report quoting errors; it does not need to: an unterminated quote or a
 * cut line cannot give seven well-formed fields, which every row is checked for. Fields of the
 * dump never hold line breaks, so the line of a row is its record number plus one.
 */
const KBO_HEADER = ['EnterpriseNumber', 'Status', 'JuridicalSituation', 'TypeOfEnterprise', 'JuridicalForm', 'JuridicalFormCAC', 'StartDate'];
/** The dump lists active enterprises with status AC. */
const ACTIVE_STATUS = 'AC';

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
export function kboDumpStages(): [Transform, NodeJS.ReadWriteStream, Transform] {
  return [new StrictUtf8Decoder(), Papa.parse(Papa.NODE_STREAM_INPUT, { header: false, skipEmptyLines: true }), new RowValidator()];
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
      // The line of the first byte that is not UTF-8: where a lenient decoding of this chunk
      // puts its first replacement character.
      const lenient = chunk.toString('utf8');
      const bad = lenient.indexOf('\uFFFD');
      callback(new KboDumpError(this.linesSeen + countNewlines(lenient.slice(0, bad < 0 ? 0 : bad)), 'not UTF-8 text'));
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

  override _transform(fields: string[], _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.sawHeader) {
      this.sawHeader = true;
      const header = fields.map((f) => f.trim());
      if (header.join(',') !== KBO_HEADER.join(',')) return callback(new KboDumpError(1, `header must be ${KBO_HEADER.join(',')}`));
      return callback();
    }
    const row = readRow(fields);
    if (typeof row === 'string') return callback(new KboDumpError(this.rows + 2, row));
    this.rows++;
    callback(null, row);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.sawHeader) return callback(new KboDumpError(1, 'empty file: no header'));
    if (this.rows === 0) return callback(new KboDumpError(2, 'no enterprise rows'));
    callback();
  }
}

/** The row, or why it is not one. */
function readRow(fields: string[]): DumpRow | string {
  if (fields.length !== KBO_HEADER.length) return `expected ${KBO_HEADER.length} fields, found ${fields.length} (a cut or badly quoted line)`;
  const [number, status, , , , , startDate] = fields;
  const dotted = DOTTED_NUMBER.exec(number);
  const enterpriseNumber = dotted ? dotted[1] + dotted[2] + dotted[3] : '';
  if (!dotted || !hasValidCheckDigits(enterpriseNumber)) return `EnterpriseNumber "${number.slice(0, 40)}" is not a valid enterprise number (dddd.ddd.ddd, mod 97)`;
  if (!STATUS.test(status)) return `Status "${status.slice(0, 40)}" is not a status code`;
  const date = DATE.exec(startDate);
  if (!date || !isCalendarDate(Number(date[3]), Number(date[2]), Number(date[1]))) return `StartDate "${startDate.slice(0, 40)}" is not a dd-mm-yyyy date`;
  return { enterpriseNumber, active: status === ACTIVE_STATUS };
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
