import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { collectMigrationKey, type CollectionSteps, type QuotaStatus } from '../collection/flow';
import type { Environment } from '../domain/environment';
import { HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { CertificateSource } from '../tls/presented-certificate';
import { negotiateFormat, sendError, sendRecord } from './render';

export const MIGRATION_KEY_PATH = /^\/hermes-rw\/migrationKey\/([^/]+)$/;

export interface PublicAppOptions {
  smpId: string;
  defaultEnvironment: Environment;
  certificateSource: CertificateSource;
  /** The steps of one collection, bound to the request's certificate and client address. */
  stepsFor(req: Request, requestId: string): CollectionSteps;
  logger: Logger;
  onOutcome?(code: string, seconds: number): void;
}

/** The public (mutual TLS) application: one route, SPEC §2. Nothing of the admin API lives here. */
export function createPublicApp(options: PublicAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // req.ip is the client's own address only when the peer is a trusted proxy.
  app.set('trust proxy', (address: string) => options.certificateSource.isTrustedProxy(address));

  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.locals.requestId = randomUUID();
    res.set({ 'X-Request-Id': res.locals.requestId, 'Cache-Control': 'no-store' });
    next();
  });

  app.use(async (req: Request, res: Response, next: NextFunction) => {
    // Matched on the raw path and decoded here: a badly encoded id is garbage (001) like any
    // other, answered only after the certificate checks, not a 400 from the router before them.
    const match = MIGRATION_KEY_PATH.exec(req.path);
    if (!match) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      sendError(res, negotiateFormat(req), new HsmpError('METHOD_NOT_ALLOWED'), res.locals.requestId);
      return;
    }
    const started = process.hrtime.bigint();
    const requestId: string = res.locals.requestId;
    const format = negotiateFormat(req);
    const environmentParam = req.query.environment;
    const requestedEnvironment =
      environmentParam === undefined ? options.defaultEnvironment : typeof environmentParam === 'string' ? environmentParam : '';
    const outcome = await collectMigrationKey(
      { rawParticipantId: decodeSegment(match[1]), requestedEnvironment },
      options.stepsFor(req, requestId),
    );
    if (outcome.quota) setRateLimitHeaders(res, outcome.quota);
    let code = '200';
    if (outcome.record) {
      sendRecord(res, format, options.smpId, outcome.record);
    } else {
      const error = asHsmpError(outcome.error);
      code = error.code;
      if (error.status >= 500) options.logger.error({ requestId, err: outcome.error }, 'request failed');
      sendError(res, format, error, requestId);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.onOutcome?.(code, seconds);
    options.logger.info(
      { requestId, seatId: outcome.accessPoint?.seatId, ip: req.ip, code, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
      'migration key request',
    );
  });

  app.use((req: Request, res: Response) => {
    sendError(res, negotiateFormat(req), new HsmpError('NOT_FOUND'), res.locals.requestId);
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const hsmp = asHsmpError(error);
    if (hsmp.status >= 500) options.logger.error({ requestId: res.locals.requestId, err: error }, 'request failed');
    sendError(res, negotiateFormat(req), hsmp, res.locals.requestId);
  });
  return app;
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

function setRateLimitHeaders(res: Response, quota: QuotaStatus): void {
  res.set({
    'RateLimit-Limit': String(quota.limit),
    'RateLimit-Remaining': String(Math.max(0, quota.remaining)),
    'RateLimit-Reset': String(quota.resetSeconds),
  });
}
