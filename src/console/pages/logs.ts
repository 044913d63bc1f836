import { once } from 'node:events';
import type { Response } from 'express';
import { ServiceError } from '../../domain/errors';
import type { Logger } from '../../log';
import { parseInput, type Inputs, type OperatorService } from '../../operations';
import { csvLine, textOf } from '../csv';
import { dataTable, html, type Html } from '../html';
import { link, signedInPage, when, type PageContext } from '../layout';

/** The two logs and the columns each shows, as the log repository returns them. */
const LOGS = {
  collections: {
    title: 'Collection log',
    columns: [
      'id',
      'collected_at',
      'environment',
      'seat_id',
      'client_ip',
      'participant',
      'enterprise_number',
      'outcome',
      'request_id',
      'certificate_fingerprint',
    ],
    filters: ['day', 'seatId', 'participant'],
  },
  audit: { title: 'Audit log', columns: ['id', 'at', 'operator', 'action', 'target', 'reason', 'details'], filters: ['day', 'operator'] },
} as const;
type LogName = keyof typeof LOGS;

/**
 * Rows one CSV download holds at most: a day of the collection log at production size (SPEC
 * §5), read a page of the API's size at a time, each page bounded like the API's reads.
 */
export const CSV_MAX_ROWS = 100_000;
const CSV_PAGE = 1000;
const PAGE_SIZE = 100;

interface LogRequest {
  log: LogName;
  query: Inputs['logQuery'];
  /** The filters as asked, without paging: what the links of the page carry on. */
  filters: URLSearchParams;
}

/**
 * The log and its filters from the query string; an empty field is no filter. Bad input is a
 * BadRequest naming the field. `limit` is a page's size (links carry it on).
 */
function logRequest(raw: Record<string, unknown>, defaultLimit: number): LogRequest {
  const log: LogName = raw.log === 'audit' ? 'audit' : 'collections';
  const filters = new URLSearchParams({ log });
  const limit = typeof raw.limit === 'string' && raw.limit !== '' ? raw.limit : String(defaultLimit);
  if (limit !== String(defaultLimit)) filters.set('limit', limit);
  const asked: Record<string, string> = {};
  for (const name of LOGS[log].filters) {
    const value = raw[name];
    if (typeof value === 'string' && value.trim() !== '') {
      asked[name] = value.trim();
      filters.set(name, value.trim());
    }
  }
  const before = typeof raw.before === 'string' && raw.before !== '' ? raw.before : undefined;
  const query = parseInput('logQuery', { ...asked, limit, before });
  return { log, query, filters };
}

const read = (operations: OperatorService, request: LogRequest) =>
  request.log === 'audit' ? operations.auditLog(request.query) : operations.collectionLog(request.query);

/** A refusal the operator acts on by changing the filter: bad input, or a read too broad for the log's size. */
const isFilterProblem = (error: unknown): error is ServiceError =>
  error instanceof ServiceError && (error.status === 400 || error.code === 'narrow-the-filter');

/** The Logs page (SPEC §4.1): either log with the API's filters, paged by its cursor, and the CSV of what is filtered. */
export async function logsPage(ctx: PageContext, operations: OperatorService, raw: Record<string, unknown>): Promise<{ status: number; page: string }> {
  const log: LogName = raw.log === 'audit' ? 'audit' : 'collections';
  let request: LogRequest;
  let entries: Array<Record<string, unknown>>;
  let next: string | null;
  try {
    request = logRequest(raw, PAGE_SIZE);
    ({ entries, next } = await read(operations, request));
  } catch (error) {
    if (!isFilterProblem(error)) throw error;
    const page = signedInPage(
      ctx,
      'Logs',
      html`${filterForm(log, raw)}
        <p class="flash error" role="alert">${error.message}</p>`,
    );
    return { status: error.status, page };
  }
  const { columns, title } = LOGS[log];
  const withCursor = (before: string) => {
    const query = new URLSearchParams(request.filters);
    query.set('before', before);
    return link(`/logs?${query.toString()}`);
  };
  const content = html`${filterForm(log, raw)}
    <p>
      <a href="${link(`/logs.csv?${withoutPageSize(request.filters)}`)}" download>Download the filtered ${title.toLowerCase()} as CSV</a>
      <span class="hint">(newest first, every page of it up to ${CSV_MAX_ROWS.toLocaleString('en')} rows)</span>
    </p>
    ${dataTable(
      html`${title}, newest first${request.query.before ? html`, before entry ${request.query.before}` : ''}`,
      columns.map(heading),
      entries.map((entry) => columns.map((column) => cell(entry[column]))),
      'No entry matches.',
    )}
    <nav class="pager" aria-label="Pages of the log">
      ${request.query.before ? html`<a href="${link(`/logs?${request.filters.toString()}`)}">Newest entries</a>` : ''}
      ${next ? html`<a href="${withCursor(next)}" rel="next">Older entries</a>` : ''}
    </nav>`;
  return { status: 200, page: signedInPage(ctx, 'Logs', content) };
}

function filterForm(log: LogName, raw: Record<string, unknown>): Html {
  const value = (name: string) => (typeof raw[name] === 'string' ? raw[name] : '');
  return html`<form method="get" action="${link('/logs')}" class="stacked" aria-label="Filter the log">
    <p>
      <label for="log-kind">Log</label>
      <select id="log-kind" name="log">
        <option value="collections" ${log === 'collections' ? html`selected` : ''}>Collection log</option>
        <option value="audit" ${log === 'audit' ? html`selected` : ''}>Audit log</option>
      </select>
    </p>
    <p><label for="log-day">Day (Brussels)</label> <input id="log-day" name="day" type="date" value="${value('day')}" /></p>
    <p>
      <label for="log-seat">Seat id (collection log)</label>
      <input id="log-seat" name="seatId" value="${value('seatId')}" maxlength="128" autocomplete="off" />
    </p>
    <p>
      <label for="log-participant">Participant, any spelling (collection log)</label>
      <input id="log-participant" name="participant" value="${value('participant')}" maxlength="128" autocomplete="off" />
    </p>
    <p>
      <label for="log-operator">Operator (audit log)</label>
      <input id="log-operator" name="operator" value="${value('operator')}" maxlength="128" autocomplete="off" />
    </p>
    <p><button type="submit">Filter</button></p>
  </form>`;
}

function withoutPageSize(filters: URLSearchParams): string {
  const query = new URLSearchParams(filters);
  query.delete('limit');
  return query.toString();
}

const heading = (column: string) => column.replaceAll('_', ' ');

function cell(value: unknown): Html | string {
  if (value instanceof Date) return when(value);
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return html`<code>${textOf(value)}</code>`;
  return textOf(value);
}

/**
 * The CSV of what the page's filters select, streamed a page at a time (the admin API's pages
 * and bounds). The first page is read before anything is sent, so a bad filter or a read too
 * broad is an error page with the API's problem; a failure later cuts the download short
 * (the browser reports it failed) rather than ending it as if complete.
 */
export async function sendLogCsv(
  res: Response,
  operations: OperatorService,
  raw: Record<string, unknown>,
  logger: Logger,
): Promise<{ status: number; message: string } | undefined> {
  let request: LogRequest;
  let page: Awaited<ReturnType<typeof read>>;
  try {
    request = logRequest({ ...raw, limit: undefined }, CSV_PAGE);
    page = await read(operations, request);
  } catch (error) {
    if (!isFilterProblem(error)) throw error;
    return { status: error.status, message: error.message };
  }
  const { columns } = LOGS[request.log];
  res.status(200).set({
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="hsmp-${request.log}-log.csv"`,
  });
  const write = async (text: string) => {
    if (!res.write(text)) await once(res, 'drain');
  };
  try {
    await write(csvLine(columns));
    let rows = 0;
    for (;;) {
      for (const entry of page.entries.slice(0, CSV_MAX_ROWS - rows)) await write(csvLine(columns.map((column) => entry[column])));
      rows += page.entries.length;
      if (page.next === null) break;
      if (rows >= CSV_MAX_ROWS) {
        await write(csvLine([`more than ${CSV_MAX_ROWS} rows match: this file holds the newest ${CSV_MAX_ROWS}; narrow the filter (a day) for the rest`]));
        break;
      }
      if (res.destroyed) return undefined;
      page = await read(operations, { ...request, query: { ...request.query, before: Number(page.next) } });
    }
    res.end();
  } catch (error) {
    logger.warn({ err: error }, 'a CSV download of the log was cut short');
    res.destroy();
  }
  return undefined;
}
