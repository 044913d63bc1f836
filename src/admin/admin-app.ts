import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AdminOperator } from '../config/config';
import { AdminProblem, HsmpError, type AdminProblemCode } from '../domain/errors';
import { createConsole } from '../console/console-app';
import type { Logger } from '../log';
import { ADMIN_PREFIX, mountPath, parseEnterpriseNumber, parseInput, pathOf, ROUTES, type OperatorService } from '../operations';
import type { JobOperations, JobView } from '../operations/jobs';
import type { DailyCounters } from '../quota';
import type { SmlHealthState } from '../sml/preparer';
import type { SmlStatus } from '../sml/status';
import { asDatabaseError, type Database } from '../store/database';
import type { Metrics } from './metrics';
import { operatorAuth } from './operator-auth';
import { sendProblem } from './problem';

export { ADMIN_PREFIX };
export const OPENAPI_DOCUMENT = path.resolve(__dirname, '..', '..', '..', 'openapi', 'hsmp-mtci.openapi.json');

export interface AdminAppOptions {
  operators: AdminOperator[];
  /** Where the daily counters are kept, for readiness. */
  quotaStore: 'redis' | 'memory';
  database: Database;
  counters: DailyCounters;
  operations: OperatorService;
  jobs: JobOperations;
  metrics: Metrics;
  logger: Logger;
  /** For readiness; absent with HSMP_SML=off. */
  sml?: SmlStatus;
}

/**
 * The BOSA operators' API (SPEC §4) on its own listener, never the public port. Everything
 * under /admin needs an operator token; /healthz, /readyz and /metrics do not (probes and
 * scrapers), and tell nothing secret. Every change is written to the audit log in the same
 * transaction as the change.
 */
export function createAdminApp(options: AdminAppOptions): express.Express {
  const { database, counters, metrics, logger } = options;
  const pool = database.pool;
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  /**
   * What each dependency is doing. `/readyz` is unauthenticated: it says a short state per
   * dependency and nothing an SML or a driver wrote; the last problem's text (scrubbed of any
   * key by the SML client) is for operators, on /admin/health, and in the log.
   */
  const readiness = async () => {
    const [db, redis] = await Promise.all([
      pool.query('SELECT 1').then(
        () => 'ok',
        () => 'unavailable',
      ),
      counters.ready().then(
        () => (options.quotaStore === 'redis' ? 'ok' : 'not used (in-memory counters)'),
        () => 'unavailable',
      ),
    ]);
    // A deployment the SML refuses (SMP id, certificate) is not ready: no new key can work.
    // An SML that is merely unreachable is reported, not held against this instance.
    const smlHealth = options.sml?.health;
    const smlEnvironments = options.sml?.environments ?? [];
    const smlStates = smlHealth ? smlEnvironments.map((e) => [e, smlHealth.state(e)] as const) : [];
    const smlRefuses = smlStates.some(([, state]) => state.deploymentOk === false);
    const ready = db === 'ok' && redis !== 'unavailable' && !smlRefuses;
    return { ready, db, redis, smlStates };
  };
  app.get('/readyz', async (_req, res) => {
    const { ready, db, redis, smlStates } = await readiness();
    const sml = options.sml ? Object.fromEntries(smlStates.map(([e, state]) => [e, smlStateOf(state)])) : 'off';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', database: db, redis, sml });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  const openapi = readFileSync(OPENAPI_DOCUMENT);
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openapi);
  });

  const admin = express.Router();
  admin.use(operatorAuth(options.operators));
  admin.use(express.json({ limit: '64kb' }));
  const operatorOf = (res: Response): string => (res.locals as { operator: string }).operator;
  const operations = options.operations;
  const jobs = options.jobs;
  // A job answers at once (202) with where to follow it; the work goes on without this request.
  const accepted = (res: Response, job: JobView) => {
    res
      .status(202)
      .location(pathOf(ROUTES.job, { id: job.id }))
      .json(job);
  };

  admin.get(mountPath(ROUTES.blocks), async (_req, res) => {
    res.json(await operations.blocks());
  });
  admin.post(mountPath(ROUTES.reactivate), async (req, res) => {
    res.json(await operations.reactivate(parseInput('reactivation', req.body), operatorOf(res)));
  });
  admin.get(mountPath(ROUTES.allowances), async (_req, res) => {
    res.json(await operations.allowances());
  });
  admin.post(mountPath(ROUTES.grantAllowance), async (req, res) => {
    res.status(201).json(await operations.grantAllowance(parseInput('allowanceGrant', req.body), operatorOf(res)));
  });
  admin.delete(mountPath(ROUTES.revokeAllowance), async (req, res) => {
    res.json(await operations.revokeAllowance(parseInput('allowanceId', req.params.id), parseInput('withReason', req.body ?? {}), operatorOf(res)));
  });
  admin.get(mountPath(ROUTES.health), async (_req, res) => {
    const { ready, db, redis, smlStates } = await readiness();
    const sml = options.sml
      ? Object.fromEntries(smlStates.map(([e, state]) => [e, { state: smlStateOf(state), ...(state.lastProblem ? { lastProblem: state.lastProblem } : {}) }]))
      : 'off';
    res.json({ status: ready ? 'ready' : 'not ready', database: db, redis, sml });
  });
  admin.get(mountPath(ROUTES.usage), async (req, res) => {
    res.json(await operations.usage(parseInput('usage', req.query)));
  });
  admin.get(mountPath(ROUTES.enterprise), async (req, res) => {
    res.json(await operations.enterprise(parseEnterpriseNumber(String(req.params.number))));
  });
  const enterpriseNumberOf = (req: Request) => parseEnterpriseNumber(String(req.params.number));
  admin.post(mountPath(ROUTES.removeEnterprise), async (req, res) => {
    res.json(await operations.removeEnterprise(enterpriseNumberOf(req), parseInput('withReason', req.body ?? {}), operatorOf(res)));
  });
  admin.post(mountPath(ROUTES.markEnterpriseMigrated), async (req, res) => {
    res.json(await operations.markEnterpriseMigrated(enterpriseNumberOf(req), parseInput('perEnvironment', req.body ?? {}), operatorOf(res)));
  });
  admin.post(mountPath(ROUTES.restoreEnterprise), async (req, res) => {
    res.json(await operations.restoreEnterprise(enterpriseNumberOf(req), parseInput('perEnvironment', req.body ?? {}), operatorOf(res)));
  });
  admin.post(mountPath(ROUTES.revokeKey), async (req, res) => {
    res.json(await operations.revokeKey(enterpriseNumberOf(req), parseInput('keyRevocation', req.body ?? {}), operatorOf(res)));
  });
  admin.post(mountPath(ROUTES.seed), async (req, res) => {
    res.json(await operations.seed(parseInput('seed', req.body ?? {}), operatorOf(res)));
  });
  admin.post(mountPath(ROUTES.importKbo), async (req, res) => {
    accepted(res, await jobs.importKbo(req, parseInput('importKbo', req.query), operatorOf(res)));
  });
  admin.get(mountPath(ROUTES.auditLog), async (req, res) => {
    res.json(await operations.auditLog(parseInput('logQuery', req.query)));
  });
  admin.get(mountPath(ROUTES.collectionLog), async (req, res) => {
    res.json(await operations.collectionLog(parseInput('logQuery', req.query)));
  });
  admin.post(mountPath(ROUTES.smlReconcile), async (req, res) => {
    accepted(res, await jobs.reconcile(parseInput('smlReconcile', req.body ?? {}), operatorOf(res)));
  });
  admin.post(mountPath(ROUTES.smlPrepare), async (req, res) => {
    accepted(res, await jobs.prepare(parseInput('smlPrepare', req.body ?? {}), operatorOf(res)));
  });
  admin.get(mountPath(ROUTES.jobs), async (req, res) => {
    res.json({ jobs: await jobs.list(parseInput('jobList', req.query).limit) });
  });
  admin.get(mountPath(ROUTES.job), async (req, res) => {
    res.json(await jobs.get(parseInput('jobId', req.params.id), parseInput('jobWait', req.query)));
  });

  app.use(ADMIN_PREFIX, admin);
  // The operator console (SPEC §4.1) at / and /console/: the same use cases in a browser.
  app.use(createConsole({ pool, operators: options.operators, operations, jobs: options.jobs, logger }));
  app.use((_req, res) => {
    sendProblem(res, 'not-found', 'no such admin resource');
  });
  // The one mapping of errors to admin problems: an AdminProblem answers with its catalogue
  // code; a dependency that is down (a 503 of the public catalogue, a lost database
  // connection) as "unavailable"; body-parser's own refusals by their status. Anything else is
  // a bug: logged, and a 500.
  app.use((thrown: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (thrown instanceof AdminProblem) {
      sendProblem(res, thrown.code, thrown.message, thrown.details);
      return;
    }
    const error = asDatabaseError(thrown);
    if (error instanceof HsmpError && error.status === 503) {
      sendProblem(res, 'unavailable', error.message);
      return;
    }
    const parserRefusal = BODY_PARSER_REFUSALS[(error as { status?: number }).status ?? 0];
    if (parserRefusal && (error as { expose?: boolean }).expose) {
      sendProblem(res, parserRefusal, (error as Error).message);
      return;
    }
    logger.error({ err: error }, 'admin request failed');
    sendProblem(res, 'internal-error', 'the admin request failed');
  });
  return app;
}

/** The client errors body-parser raises (http-errors, `expose` set), by status. */
const BODY_PARSER_REFUSALS: Partial<Record<number, AdminProblemCode>> = { 400: 'bad-request', 413: 'payload-too-large', 415: 'unsupported-media-type' };

function smlStateOf(state: SmlHealthState): 'ok' | 'not called yet' | 'unreachable' | 'refuses this SMP' {
  if (state.deploymentOk === false) return 'refuses this SMP';
  if (state.reachable === false) return 'unreachable';
  return state.reachable ? 'ok' : 'not called yet';
}
