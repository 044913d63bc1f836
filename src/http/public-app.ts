import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyCollection } from '../collection/key-collection';
import type { QuotaStatus } from '../domain/quota-status';
import type { Environment } from '../domain/environment';
import { HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { CallerSource } from './caller';
import { OutageLog } from './outage-log';
import { negotiateFormat, sendError, sendRecord } from './render';
import { rateLimitFields } from './rate-limit-fields';

export const MIGRATION_KEY_PATH = /^\/hermes-rw\/migrationKey\/([^/]+)$/;

export interface PublicAppOptions {
  smpId: string;
  defaultEnvironment: Environment;
  callers: CallerSource;
  collection: Pick<KeyCollection, 'collect'>;
  logger: Logger;
  onOutcome?(code: string, seconds: number): void;
  /** Counts a 503 per dependency (metrics). */
  onDependencyUnavailable?(dependency: string): void;
}

export type PublicHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The public (mutual TLS) listener's handler: one route, SPEC §2, on Node's own http API.
 * Express is left to the admin listener: on this route it cost more CPU than everything
 * else in the service together (router, res.set/type/send; measured in docs/development/benchmarks.md),
 * and the route needs none of it. Nothing of the admin API lives here.
 */
export function createPublicApp(options: PublicAppOptions): PublicHandler {
  const outages = new OutageLog(options.logger, (dependency) => options.onDependencyUnavailable?.(dependency));

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const { path, query } = splitTarget(req.url ?? '/');
    // Matched on the raw path and decoded here: a badly encoded id is garbage (001) like any
    // other, answered only after the certificate checks, not a 400 before them.
    const match = MIGRATION_KEY_PATH.exec(path);
    const format = negotiateFormat(req);
    if (!match) {
      sendError(res, format, new HsmpError('NOT_FOUND'), requestId);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, format, new HsmpError('METHOD_NOT_ALLOWED'), requestId);
      return;
    }
    const started = process.hrtime.bigint();
    const caller = options.callers.callerOf(req, requestId);
    const outcome = await options.collection.collect({
      caller,
      rawParticipantId: decodeSegment(match[1]),
      requestedEnvironment: requestedEnvironment(query, options.defaultEnvironment),
    });
    if (outcome.quota) setRateLimitHeaders(res, outcome.quota);
    let code = '200';
    if (outcome.record) {
      outages.answered();
      sendRecord(res, format, options.smpId, outcome.record);
    } else {
      const error = asHsmpError(outcome.error);
      code = error.code;
      if (error.dependency) outages.failed(error.dependency, error);
      else if (error.status >= 500) options.logger.error({ requestId, err: outcome.error }, 'request failed');
      sendError(res, format, error, requestId);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.onOutcome?.(code, seconds);
    options.logger.info(
      { requestId, seatId: outcome.accessPoint?.seatId, ip: caller.address, code, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
      'migration key request',
    );
  };

  return (req, res) => {
    const requestId = randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('Cache-Control', 'no-store');
    handle(req, res, requestId).catch((error: unknown) => {
      options.logger.error({ requestId, err: error }, 'request failed');
      if (!res.headersSent) sendError(res, negotiateFormat(req), asHsmpError(error), requestId);
      else res.destroy();
    });
  };
}

/** Path and query of a request target; the absolute form (RFC 9112 §3.2.2) is accepted too. */
function splitTarget(target: string): { path: string; query: string } {
  let relative = target;
  if (!target.startsWith('/')) {
    try {
      const url = new URL(target);
      relative = url.pathname + url.search;
    } catch {
      return { path: '', query: '' };
    }
  }
  const q = relative.indexOf('?');
  return q < 0 ? { path: relative, query: '' } : { path: relative.slice(0, q), query: relative.slice(q + 1) };
}

/** `?environment=` as asked; a repeated parameter is no environment at all (→ 010). */
function requestedEnvironment(query: string, defaultEnvironment: Environment): string {
  if (query === '') return defaultEnvironment;
  const values = new URLSearchParams(query).getAll('environment');
  return values.length === 0 ? defaultEnvironment : values.length === 1 ? values[0] : '';
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function asHsmpError(error: unknown): HsmpError {
  return error instanceof HsmpError ? error : new HsmpError('HSMP-999', { cause: error });
}

function setRateLimitHeaders(res: ServerResponse, quota: QuotaStatus): void {
  for (const [name, value] of Object.entries(rateLimitFields(quota))) res.setHeader(name, value);
}
