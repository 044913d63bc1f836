import { Transform, type TransformCallback } from 'node:stream';
import Papa from 'papaparse';
import { parseDottedNumber } from '../participants/participant-id';
import { isCalendarDate } from '../domain/calendar-date';
import { ServiceError } from '../domain/errors';
import { EnterpriseNumberSet } from '../domain/enterprise-number-set';

/**
 * Reads the CBE (KBO) open-data enterprise.csv into batches of the enterprise numbers listed
 * as active, checking every line: strict UTF-8, the exact header, seven fields, a valid dotted
 * enterprise number listed once, a status code and a dd-mm-yyyy start date. The first problem
 * stops the stream with a KboDumpError naming the line, so that the import can roll back.
 *
 * CSV parsing is papaparse's (docs/development/design.md has the parsers measured). Its stream mode does
 * not report quoting errors, and it keeps stray quotes as text (`"0"00"` reads as `0"00`,
 * `000""` as itself). No field of the dump holds a quote, so a field that does is a badly
 * quoted line; an unterminated quote or a cut line cannot give seven fields on one line. Line
 * breaks inside fields and empty lines are refused, so a row's line is exactly its record
 * number + 1.
 */
const KBO_HEADER = ['EnterpriseNumber', 'Status', 'JuridicalSituation', 'TypeOfEnterprise', 'JuridicalForm', 'JuridicalFormCAC', 'StartDate'];
/** The dump lists active enterprises with status AC. */
const ACTIVE_STATUS = 'AC';
/** Numbers per batch handed downstream: one stream hop per batch, not per row. */
const BATCH_SIZE = 8192;

export class KboDumpError extends ServiceError {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super('malformed-dump', 422, `line ${line}: ${reason}; nothing was changed`);
  }
}

export interface DumpCounts {
  /** Enterprise rows read (the header not included). */
  rows: number;
  /** Rows with status AC: the numbers emitted. */
  active: number;
}

/**
 * The stages, for stream.pipeline, that turn the bytes of a dump into arrays of ten-digit
 * numbers with status AC; `counts` is complete once the pipeline has finished.
 */
export function kboActiveNumbers(): { stages: [Transform, NodeJS.ReadWriteStream, Transform]; counts: DumpCounts } {
  const validator = new RowValidator();
  return {
    stages: [new StrictUtf8Decoder(), Papa.parse(Papa.NODE_STREAM_INPUT, { header: false, skipEmptyLines: false }), validator],
    counts: validator.counts,
  };
}

class StrictUtf8Decoder extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private linesSeen = 1;

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
  readonly counts: DumpCounts = { rows: 0, active: 0 };
  private line = 0;
  /** An empty line is only harmless at the very end of the file. */
  private emptyLine = 0;
  private readonly listed = new EnterpriseNumberSet();
  private batch: string[] = [];

  constructor() {
    super({ objectMode: true });
  }

  override _transform(fields: string[], _encoding: BufferEncoding, callback: TransformCallback): void {
    this.line++;
    if (this.emptyLine) {
      callback(new KboDumpError(this.emptyLine, 'empty line'));
      return;
    }
    if (fields.length === 1 && fields[0] === '') {
      this.emptyLine = this.line;
      callback();
      return;
    }
    if (this.line === 1) {
      const header = fields.map((f) => f.trim());
      if (header.join(',') !== KBO_HEADER.join(',')) {
        callback(new KboDumpError(1, `header must be ${KBO_HEADER.join(',')}`));
        return;
      }
      callback();
      return;
    }
    const row = this.readRow(fields);
    if (row !== null && typeof row === 'object') {
      callback(new KboDumpError(this.line, row.refused));
      return;
    }
    this.counts.rows++;
    if (row === null) {
      callback();
      return;
    }
    this.counts.active++;
    this.batch.push(row);
    if (this.batch.length < BATCH_SIZE) {
      callback();
      return;
    }
    const full = this.batch;
    this.batch = [];
    callback(null, full);
  }

  override _flush(callback: TransformCallback): void {
    if (this.line === 0 || (this.line === 1 && this.emptyLine)) {
      callback(new KboDumpError(1, 'empty file: no header'));
      return;
    }
    if (this.counts.rows === 0) {
      callback(new KboDumpError(2, 'no enterprise rows'));
      return;
    }
    callback(null, this.batch.length > 0 ? this.batch : undefined);
  }

  /**
   * The ten-digit number of an active row, null for a valid row of another status, or why the
   * row is refused (only then is a reason built: this runs two million times per import).
   */
  private readRow(fields: string[]): string | null | { refused: string } {
    if (fields.length !== KBO_HEADER.length) return { refused: `expected ${KBO_HEADER.length} fields, found ${fields.length} (a cut or badly quoted line)` };
    if (fields.some(holdsLineBreak)) return { refused: 'a field holds a line break (a badly quoted line)' };
    if (fields.some(holdsQuote)) return { refused: 'a field holds a double quote (a badly quoted line)' };
    const [dotted, status, , , , , startDate] = fields;
    const number = parseDottedNumber(dotted);
    if (number === null) return { refused: `EnterpriseNumber "${dotted.slice(0, 40)}" is not a valid enterprise number (dddd.ddd.ddd, mod 97)` };
    if (!STATUS.test(status)) return { refused: `Status "${status.slice(0, 40)}" is not a status code` };
    if (!isDate(startDate)) return { refused: `StartDate "${startDate.slice(0, 40)}" is not a dd-mm-yyyy date` };
    if (!this.listed.addOnce(number)) return { refused: `EnterpriseNumber "${dotted}" is listed twice` };
    return status === ACTIVE_STATUS ? number : null;
  }
}

const DATE = /^(\d{2})-(\d{2})-(\d{4})$/;
const STATUS = /^[A-Z]{2}$/;

function isDate(ddmmyyyy: string): boolean {
  const match = DATE.exec(ddmmyyyy);
  return match !== null && isCalendarDate(Number(match[3]), Number(match[2]), Number(match[1]));
}

const holdsLineBreak = (field: string) => field.includes('\n');
const holdsQuote = (field: string) => field.includes('"');

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
