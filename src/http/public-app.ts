import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';
import { collectMigrationKey, type CollectionSteps } from '../collection/flow';
import type { QuotaStatus } from '../domain/quota-status';
import type { Environment } from '../domain/environment';
import { HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { CertificateSource } from '../tls/presented-certificate';
import { normalizeAddress } from './connection-limits';
import { OutageLog } from './outage-log';
import { negotiateFormat, sendError, sendRecord } from './render';

export const MIGRATION_KEY_PATH = /^\/hermes-rw\/migrationKey\/([^/]+)$/;

export interface PublicRequest {
  req: IncomingMessage;
  requestId: string;
  /** The client's address: the peer's, or the forwarded one when the peer is a trusted proxy. */
  clientIp: string;
}

export interface PublicAppOptions {
  smpId: string;
  defaultEnvironment: Environment;
  certificateSource: CertificateSource;
  /** The steps of one collection, bound to the request's certificate and client address. */
  stepsFor(request: PublicRequest): CollectionSteps;
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
  const trustProxy = (address: string) => options.certificateSource.isTrustedProxy(address);
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
    const clientIp = clientAddress(req, trustProxy);
    const outcome = await collectMigrationKey(
      { rawParticipantId: decodeSegment(match[1]), requestedEnvironment: requestedEnvironment(query, options.defaultEnvironment) },
      options.stepsFor({ req, requestId, clientIp }),
    );
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
      { requestId, seatId: outcome.accessPoint?.seatId, ip: clientIp, code, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
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

/**
 * The client's IP: the peer's, or the one a trusted proxy forwarded in X-Forwarded-For. The
 * header is text anyone upstream of the proxy may have written: what is not an IP address is
 * not used (it would count, block and log a made-up "address"), the peer's is.
 */
function clientAddress(req: IncomingMessage, trustProxy: (address: string) => boolean): string {
  const peer = req.socket.remoteAddress ?? '';
  const forwarded = proxyAddr(req, trustProxy);
  return normalizeAddress(ipaddr.isValid(forwarded) ? forwarded : peer);
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
  res.setHeader('RateLimit-Limit', String(quota.limit));
  res.setHeader('RateLimit-Remaining', String(Math.max(0, quota.remaining)));
  res.setHeader('RateLimit-Reset', String(quota.resetSeconds));
}
