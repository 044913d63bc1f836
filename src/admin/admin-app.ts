import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config';
import { parseUserSubject, userSubject } from '../domain/access-point';
import { brusselsDay, brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { isCalendarDate } from '../domain/calendar-date';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { HsmpError, ServiceError } from '../domain/errors';
import type { Logger } from '../log';
import { datasetNumbers, MAX_DATASETS } from '../participants/datasets';
import { parseParticipantId } from '../participants/participant-id';
import { changeEnterprise, getEnterprise, seedDatasets, type EnterpriseAction } from '../participants/registry';
import { GLOBAL_SUBJECT, type CounterKind, type DailyCounters, type QuotaPolicy } from '../quota';
import type { Database } from '../store/database';
import { importKboDump } from '../kbo/importer';
import type { SmlHealthState } from '../sml/preparer';
import type { RunningSml } from '../service';
import { audited } from '../operations/audit';
import type { Metrics } from './metrics';
import { operatorAuth } from './operator-auth';
import { sendProblem } from './problem';

export const ADMIN_PREFIX = '/admin';
export const OPENAPI_DOCUMENT = path.resolve(__dirname, '..', '..', '..', 'openapi', 'hsmp-mtci.openapi.json');

export interface AdminAppOptions {
  config: Config;
  database: Database;
  policy: QuotaPolicy;
  counters: DailyCounters;
  metrics: Metrics;
  logger: Logger;
  now?: () => Date;
  /** Absent with HSMP_SML=off. */
  sml?: RunningSml;
}

class BadRequest extends ServiceError {
  constructor(message: string) {
    super('bad-request', 400, message);
  }
}
class NotFound extends ServiceError {
  constructor(message: string) {
    super('not-found', 404, message);
  }
}
class Conflict extends ServiceError {
  constructor(code: string, message: string) {
    super(code, 409, message);
  }
}

const reason = z.string().trim().min(1).max(1000).optional();
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')
  .refine((d) => isCalendarDate(Number(d.slice(0, 4)), Number(d.slice(5, 7)), Number(d.slice(8, 10))), { error: 'not a day of the calendar' });
/** The daily limit column is a PostgreSQL integer. */
const MAX_DAILY_LIMIT = 2_147_483_647;
const reactivation = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('user'), seatId: z.string().min(1).max(128), environment: z.enum(ENVIRONMENTS).optional(), reason }),
  z.object({ kind: z.literal('ip'), address: z.string().min(1).max(64), reason }),
  z.object({ kind: z.literal('global'), reason }),
]);
const allowanceGrant = z
  .object({
    seatId: z.string().min(1).max(128),
    environment: z.enum(ENVIRONMENTS).optional(),
    limit: z.number().int().positive().max(MAX_DAILY_LIMIT),
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    reason,
  })
  .refine((g) => Date.parse(g.to) > Date.parse(g.from), { error: '"to" must be after "from"' });
const withReason = z.object({ reason }).default({});
const seedRequest = z.object({ datasets: z.number().int().min(1).max(MAX_DATASETS).default(1), reason }).default({ datasets: 1 });
const smlReconcile = z.object({ environment: z.enum(ENVIRONMENTS).optional(), force: z.boolean().default(false), reason }).default({ force: false });
const smlPrepare = z
  .object({
    environment: z.enum(ENVIRONMENTS).optional(),
    after: z
      .string()
      .regex(/^[01]\d{9}$/, 'expected an enterprise number of 10 digits')
      .optional(),
    limit: z.number().int().min(1).max(1000).default(100),
    reason,
  })
  .default({ limit: 100 });
const logQuery = z.object({
  day: day.optional(),
  operator: z.string().max(128).optional(),
  seatId: z.string().max(128).optional(),
  participant: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

/**
 * The BOSA operators' API (SPEC §4) on its own listener, never the public port. Everything
 * under /admin needs an operator token; /healthz, /readyz and /metrics do not (probes and
 * scrapers), and tell nothing secret. Every change is written to the audit log in the same
 * transaction as the change.
 */
export function createAdminApp(options: AdminAppOptions): express.Express {
  const { config, database, policy, counters, metrics, logger } = options;
  const pool = database.pool;
  const now = options.now ?? (() => new Date());
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const [db, redis] = await Promise.all([
      pool.query('SELECT 1').then(
        () => 'ok',
        () => 'unavailable',
      ),
      counters.ready().then(
        () => (config.redisUrl ? 'ok' : 'not used (in-memory counters)'),
        () => 'unavailable',
      ),
    ]);
    // A deployment the SML refuses (SMP id, certificate) is not ready: no new key can work.
    // An SML that is merely unreachable is reported, not held against this instance.
    const smlHealth = options.sml?.health;
    const smlEnvironments = options.sml?.environments ?? [];
    const sml = smlHealth ? Object.fromEntries(smlEnvironments.map((e) => [e, describeSml(smlHealth.state(e))])) : 'off';
    const smlRefuses = smlEnvironments.some((e) => smlHealth?.state(e).deploymentOk === false);
    const ready = db === 'ok' && redis !== 'unavailable' && !smlRefuses;
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
  admin.use(operatorAuth(config.adminOperators));
  admin.use(express.json({ limit: '64kb' }));
  const operatorOf = (res: Response): string => (res.locals as { operator: string }).operator;

  admin.get('/blocks', async (_req, res) => {
    const blocks = await policy.listBlocks();
    const pick = (kind: CounterKind) => blocks.filter((b) => b.kind === kind);
    res.json({
      users: pick('user').map((b) => ({ ...parseUserSubject(b.subject), blockedAt: b.blockedAt, reason: b.reason })),
      ips: pick('ip').map((b) => ({ address: b.subject, blockedAt: b.blockedAt, reason: b.reason })),
      global: pick('global').map((b) => ({ blockedAt: b.blockedAt, reason: b.reason }))[0] ?? null,
    });
  });

  admin.post('/blocks/reactivate', async (req, res) => {
    const body = parse(reactivation, req.body);
    const subjects: Array<[CounterKind, string]> =
      body.kind === 'user'
        ? (body.environment ? [body.environment] : [...ENVIRONMENTS]).map((environment) => ['user', userSubject({ environment, seatId: body.seatId })])
        : body.kind === 'ip'
          ? [['ip', body.address]]
          : [['global', GLOBAL_SUBJECT]];
    const lifted = await audited(
      pool,
      { operator: operatorOf(res), action: `reactivate-${body.kind}`, target: subjects.map((s) => s[1]).join(','), reason: body.reason },
      async (client) => {
        const done: string[] = [];
        for (const [kind, subject] of subjects) if (await policy.lift(client, kind, subject, operatorOf(res), body.reason)) done.push(subject);
        return done;
      },
    );
    // A fresh count for today, or the next query would exceed the limit again at once.
    for (const [kind, subject] of subjects) await counters.reset(brusselsDay(now()), kind, subject);
    if (lifted.length === 0) throw new NotFound(`no block in force for ${subjects.map((s) => s[1]).join(', ')}`);
    res.json({ reactivated: lifted });
  });

  admin.get('/allowances', async (_req, res) => {
    res.json({ allowances: await policy.listAllowances() });
  });
  admin.post('/allowances', async (req, res) => {
    const body = parse(allowanceGrant, req.body);
    const environments: Environment[] = body.environment ? [body.environment] : [...ENVIRONMENTS];
    const granted = await audited(
      pool,
      { operator: operatorOf(res), action: 'grant-allowance', target: body.seatId, reason: body.reason, details: body },
      async (client) => {
        const out = [];
        for (const environment of environments) {
          out.push(
            await policy.grant(client, {
              seatId: body.seatId,
              environment,
              dailyLimit: body.limit,
              validFrom: new Date(body.from),
              validTo: new Date(body.to),
              grantedBy: operatorOf(res),
              reason: body.reason ?? null,
            }),
          );
        }
        return out;
      },
    );
    res.status(201).json({ allowances: granted });
  });
  admin.delete('/allowances/:id', async (req, res) => {
    const id = parse(z.coerce.number().int().positive(), req.params.id);
    const { reason: why } = parse(withReason, req.body ?? {});
    const revoked = await audited(pool, { operator: operatorOf(res), action: 'revoke-allowance', target: String(id), reason: why }, (client) =>
      policy.revoke(client, id, operatorOf(res)),
    );
    if (!revoked) throw new NotFound(`no allowance ${id} in force`);
    res.json({ revoked: id });
  });

  admin.get('/usage', async (req, res) => {
    const { day: asked } = parse(z.object({ day: day.optional() }), req.query);
    const usageDay = asked ?? brusselsDay(now());
    const usage = await counters.usage(usageDay);
    res.json({
      day: usageDay,
      global: { count: usage.global, limit: config.limits.globalDaily },
      users: Object.entries(usage.users)
        .map(([subject, count]) => ({ ...parseUserSubject(subject), count }))
        .sort((a, b) => b.count - a.count),
      ips: Object.entries(usage.ips)
        .map(([address, count]) => ({ address, count, limit: config.limits.ipDaily }))
        .sort((a, b) => b.count - a.count),
    });
  });

  admin.get('/enterprises/:number', async (req, res) => {
    const number = enterpriseNumber(req.params.number);
    const enterprise = await getEnterprise(pool, number);
    if (!enterprise) throw new NotFound(`hsmp does not hold enterprise ${number}`);
    res.json({ enterpriseNumber: number, ...enterprise });
  });
  for (const action of ['remove', 'mark-migrated', 'restore'] as EnterpriseAction[]) {
    admin.post(`/enterprises/:number/${action}`, async (req, res) => {
      const number = enterpriseNumber(req.params.number);
      const { reason: why } = parse(withReason, req.body ?? {});
      const change = await audited(pool, { operator: operatorOf(res), action: `enterprise-${action}`, target: number, reason: why }, (client) =>
        changeEnterprise(client, number, action),
      );
      if (!change) throw new NotFound(`hsmp does not hold enterprise ${number}`);
      res.json({ enterpriseNumber: number, ...change });
    });
  }

  admin.post('/seed', async (req, res) => {
    const body = parse(seedRequest, req.body ?? {});
    const datasets = Array.from({ length: body.datasets }, (_, i) => ({ dataset: i + 1, types: datasetNumbers(i + 1) }));
    await audited(pool, { operator: operatorOf(res), action: 'seed', target: `datasets 1..${body.datasets}`, reason: body.reason }, (client) =>
      seedDatasets(
        client,
        datasets.map((d) => d.types),
      ),
    );
    res.json({ datasets });
  });

  admin.post('/import/kbo', async (req, res) => {
    const query = parse(z.object({ force: z.enum(['true', 'false']).default('false'), reason }), req.query);
    const summary = await importKboDump(database, req, {
      force: query.force === 'true',
      maxDeactivateShare: config.importMaxDeactivateShare,
      maxBytes: config.importMaxBytes,
      audit: { operator: operatorOf(res), reason: query.reason },
    });
    logger.info({ operator: operatorOf(res), ...summary }, 'CBE dump imported');
    res.json(summary);
  });

  admin.get('/audit', async (req, res) => {
    const q = parse(logQuery, req.query);
    const { rows } = await pool.query<{ id: string }>(
      `SELECT id, at, operator, action, target, reason, details FROM audit_log
        WHERE ($1::text IS NULL OR operator = $1) AND ($2::timestamptz IS NULL OR (at >= $2 AND at < $3)) AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC LIMIT $5`,
      [q.operator ?? null, ...dayRange(q.day), q.before ?? null, q.limit],
    );
    res.json({ entries: rows, next: rows.length === q.limit ? rows[rows.length - 1].id : null });
  });

  admin.get('/collections', async (req, res) => {
    const q = parse(logQuery, req.query);
    const participant = q.participant ? (parseParticipantId(q.participant)?.enterpriseNumber ?? q.participant) : null;
    const { rows } = await pool.query<{ id: string }>(
      `SELECT id, request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome
         FROM collection_log
        WHERE ($1::text IS NULL OR seat_id = $1) AND ($2::text IS NULL OR enterprise_number = $2 OR participant = $2)
          AND ($3::timestamptz IS NULL OR (collected_at >= $3 AND collected_at < $4)) AND ($5::bigint IS NULL OR id < $5)
        ORDER BY id DESC LIMIT $6`,
      [q.seatId ?? null, participant, ...dayRange(q.day), q.before ?? null, q.limit],
    );
    res.json({ entries: rows, next: rows.length === q.limit ? rows[rows.length - 1].id : null });
  });

  const smlOf = (asked: Environment | undefined): { sml: RunningSml; environments: Environment[] } => {
    const sml = options.sml;
    if (!sml) throw new Conflict('sml-off', 'HSMP_SML is off: this deployment does not talk to the SML');
    if (asked && !sml.environments.includes(asked)) throw new BadRequest(`environment: ${asked} is not served by this deployment`);
    return { sml, environments: asked ? [asked] : sml.environments };
  };

  admin.post('/sml/reconcile', async (req, res) => {
    const body = parse(smlReconcile, req.body ?? {});
    const { sml, environments } = smlOf(body.environment);
    const summaries = [];
    for (const environment of environments) {
      summaries.push(await sml.reconciler.reconcile(environment, { force: body.force, operator: operatorOf(res), reason: body.reason }));
    }
    res.json({ reconciliations: summaries });
  });

  admin.post('/sml/prepare', async (req, res) => {
    const body = parse(smlPrepare, req.body ?? {});
    const { sml, environments } = smlOf(body.environment);
    if (environments.length !== 1) throw new BadRequest('environment: name one environment (this deployment serves several)');
    const progress = await sml.keys.prepareBatch(environments[0], body.after ?? '', body.limit);
    if (progress.prepared > 0 || progress.notOurs > 0) {
      await audited(
        pool,
        { operator: operatorOf(res), action: 'sml-prepare', target: environments[0], reason: body.reason, details: { after: body.after ?? null } },
        async () => progress,
      );
    }
    res.json(progress);
  });

  app.use(ADMIN_PREFIX, admin);
  app.use((_req, res) => {
    sendProblem(res, 404, 'not-found', 'no such admin resource');
  });
  // The one mapping of errors to admin problems: a ServiceError answers with its own status and
  // code (a 503 of the public catalogue as "unavailable"); body-parser's own 400/413/415 too.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof ServiceError && (error.status < 500 || error.status === 503)) {
      const code = error instanceof HsmpError ? 'unavailable' : error.code;
      sendProblem(res, error.status, code, error.message, error.details);
      return;
    }
    const status = (error as { status?: number }).status;
    if (status === 400 || status === 413 || status === 415) {
      sendProblem(res, status, 'bad-request', (error as Error).message);
      return;
    }
    logger.error({ err: error }, 'admin request failed');
    sendProblem(res, 500, 'internal-error', 'the admin request failed');
  });
  return app;
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BadRequest(`${issue.path.join('.') || 'request'}: ${issue.message}`);
  }
  return result.data;
}

function enterpriseNumber(raw: string): string {
  const parsed = parseParticipantId(raw);
  if (!parsed) throw new BadRequest(`not a valid enterprise number: ${raw.slice(0, 64)}`);
  return parsed.enterpriseNumber;
}

function describeSml(state: SmlHealthState): string {
  if (state.deploymentOk === false) return `refuses this SMP: ${state.lastProblem?.message ?? 'unknown'}`;
  if (state.reachable === false) return `unreachable: ${state.lastProblem?.message ?? 'unknown'}`;
  return state.reachable ? 'ok' : 'not called yet';
}

function dayRange(asked: string | undefined): [Date | null, Date | null] {
  if (!asked) return [null, null];
  const start = brusselsMidnight(asked);
  return [start, nextBrusselsMidnight(start)];
}
