import type { Request, RequestHandler, Response, Router } from 'express';
import { brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { ServiceError } from '../domain/errors';
import type { Logger } from '../log';
import { BadRequest, parseEnterpriseNumber, parseInput, type OperatorService } from '../operations';
import type { JobOperations } from '../operations/jobs';
import { link } from './layout';
import { jobLink } from './pages/data';
import { enterpriseLink } from './pages/enterprise';
import { formFields, requireReason, sessionOf } from './request';
import type { ConsoleSessions } from './sessions';

/**
 * The console's state changes: each parses its form into the admin API's own input, asks for a
 * reason, calls the same operator use case under the signed-in operator's name (which audits
 * it), and redirects to a page that shows the outcome once (post, redirect, get).
 */
export function consoleActions(deps: { operations: OperatorService; jobs: JobOperations; sessions: ConsoleSessions; logger: Logger }) {
  const { operations, jobs, sessions } = deps;

  /** What an action did, and where to show it when that is not the page it came from (a job's page). */
  type Done = string | { text: string; show: string };
  /** Runs the change; the page that shows its outcome, and the status of a refusal (undefined when done). */
  const outcome = async (req: Request, res: Response, back: (req: Request) => string, run: (req: Request, operator: string) => Promise<Done>) => {
    const session = sessionOf(res);
    try {
      const done = await run(req, session.operator);
      await sessions.flash(session, { kind: 'ok', text: typeof done === 'string' ? done : done.text });
      return { show: typeof done === 'string' ? back(req) : done.show, refused: undefined };
    } catch (error) {
      // Refusals an operator can act on are shown; anything else is a bug for the error page.
      if (!(error instanceof ServiceError) || (error.status >= 500 && error.status !== 503)) throw error;
      await sessions.flash(session, { kind: 'error', text: error.message });
      return { show: back(req), refused: error.status };
    }
  };
  const action =
    (back: (req: Request) => string, run: (req: Request, operator: string) => Promise<Done>): RequestHandler =>
    async (req: Request, res: Response) => {
      res.redirect(303, (await outcome(req, res, back, run)).show);
    };

  const reactivate = action(
    () => link('/blocks'),
    async (req, operator) => {
      const fields = formFields(req);
      const input = parseInput('reactivation', { ...fields, reason: requireReason(fields) });
      const { reactivated } = await operations.reactivate(input, operator);
      return `Reactivated ${reactivated.join(', ')}.`;
    },
  );

  const grant = action(
    () => link('/blocks'),
    async (req, operator) => {
      const fields = formFields(req);
      const reason = requireReason(fields);
      const from = parseInput('usage', { day: fields.from }).day;
      const through = parseInput('usage', { day: fields.to }).day;
      if (!from || !through) throw new BadRequest('from, to: both days are needed');
      const input = parseInput('allowanceGrant', {
        seatId: fields.seatId,
        environment: fields.environment,
        limit: Number(fields.limit),
        from: brusselsMidnight(from).toISOString(),
        to: nextBrusselsMidnight(brusselsMidnight(through)).toISOString(),
        reason,
      });
      const { allowances } = await operations.grantAllowance(input, operator);
      return `Granted ${input.seatId} a daily limit of ${input.limit} from ${from} through ${through} (allowance ${allowances.map((a) => a.id).join(', ')}).`;
    },
  );

  const revokeAllowance = action(
    () => link('/blocks'),
    async (req, operator) => {
      const fields = formFields(req);
      const id = parseInput('allowanceId', req.params.id);
      await operations.revokeAllowance(id, parseInput('withReason', { reason: requireReason(fields) }), operator);
      return `Revoked allowance ${id}.`;
    },
  );

  // The enterprise changes: the number as the page put it in the path, the same inputs as the API.
  const enterpriseNumberOf = (req: Request) => parseEnterpriseNumber(String(req.params.number));
  const enterpriseBack = (req: Request) => enterpriseLink(enterpriseNumberOf(req));
  const environments = (list: readonly string[]) => (list.length === 1 ? list[0] : list.join(' and '));
  const removeEnterprise = action(enterpriseBack, async (req, operator) => {
    const input = parseInput('withReason', { reason: requireReason(formFields(req)) });
    const done = await operations.removeEnterprise(enterpriseNumberOf(req), input, operator);
    return `Removed ${done.enterpriseNumber}: HSMP-012 in ${environments(done.environments)}.`;
  });
  const markMigrated = action(enterpriseBack, async (req, operator) => {
    const fields = formFields(req);
    const input = parseInput('perEnvironment', { environment: fields.environment, reason: requireReason(fields) });
    const done = await operations.markEnterpriseMigrated(enterpriseNumberOf(req), input, operator);
    return `Marked ${done.enterpriseNumber} migrated in ${environments(done.environments)}.`;
  });
  const restore = action(enterpriseBack, async (req, operator) => {
    const fields = formFields(req);
    const input = parseInput('perEnvironment', { environment: fields.environment, reason: requireReason(fields) });
    const done = await operations.restoreEnterprise(enterpriseNumberOf(req), input, operator);
    return `Restored ${done.enterpriseNumber} in ${environments(done.environments)}.`;
  });
  const revokeKey = action(enterpriseBack, async (req, operator) => {
    const fields = formFields(req);
    const input = parseInput('keyRevocation', { environment: fields.environment, reason: requireReason(fields) });
    const done = await operations.revokeKey(enterpriseNumberOf(req), input, operator);
    const skipped = done.nothingToRevoke.map((n) => ` Nothing to revoke in ${n.environment}.`).join('');
    return `Revoked the key of ${done.enterpriseNumber} in ${environments(done.revoked.map((r) => r.environment))}; a fresh key is prepared.${skipped}`;
  });

  /**
   * The dump arrives from the page's script (XMLHttpRequest), which would follow a redirect
   * itself (and take the page's one-time message with it): the answer names the page to show in
   * Location, and the script goes there.
   */
  const importDump: RequestHandler = async (req, res) => {
    const { show, refused } = await outcome(
      req,
      res,
      () => link('/data'),
      async (req, operator) => {
        if (!req.is('application/octet-stream')) throw new BadRequest('uploading a dump needs JavaScript in the browser (or use hsmp-admin import-kbo)');
        const query = req.query as Record<string, string | undefined>;
        const reason = requireReason({ reason: query.reason ?? '' });
        const job = await jobs.importKbo(req, parseInput('importKbo', { force: query.force ?? 'false', reason }), operator);
        deps.logger.info({ operator, job: job.id }, 'CBE dump received from the console');
        return { text: `Received the CBE dump; importing it as job ${job.id}.`, show: jobLink(job.id) };
      },
    );
    res
      .status(refused ?? 201)
      .location(show)
      .end();
  };

  const dataBack = () => link('/data');
  const reconcileInput = (req: Request, dryRun: boolean) => {
    const fields = formFields(req);
    return parseInput('smlReconcile', { environment: fields.environment, force: fields.force === 'true', dryRun, reason: requireReason(fields) });
  };
  const previewReconciliation = action(dataBack, async (req, operator) => {
    const job = await jobs.reconcile(reconcileInput(req, true), operator);
    return { text: `Counting what a reconciliation would do, as job ${job.id}; nothing changes.`, show: jobLink(job.id) };
  });
  const reconcile = action(dataBack, async (req, operator) => {
    const job = await jobs.reconcile(reconcileInput(req, false), operator);
    return { text: `Reconciling as job ${job.id}.`, show: jobLink(job.id) };
  });
  const prepare = action(dataBack, async (req, operator) => {
    const fields = formFields(req);
    const input = parseInput('smlPrepare', {
      environment: fields.environment,
      rate: fields.rate === undefined ? undefined : Number(fields.rate),
      reason: requireReason(fields),
    });
    const job = await jobs.prepare(input, operator);
    return { text: `Preparing keys as job ${job.id}.`, show: jobLink(job.id) };
  });

  return {
    importDump,
    mount(router: Router): void {
      router.post('/blocks/reactivate', reactivate);
      router.post('/allowances', grant);
      router.post('/allowances/:id/revoke', revokeAllowance);
      router.post('/enterprise/:number/remove', removeEnterprise);
      router.post('/enterprise/:number/mark-migrated', markMigrated);
      router.post('/enterprise/:number/restore', restore);
      router.post('/enterprise/:number/revoke-key', revokeKey);
      router.post('/data/reconcile/preview', previewReconciliation);
      router.post('/data/reconcile', reconcile);
      router.post('/data/prepare', prepare);
    },
  };
}
