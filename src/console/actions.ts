import type { Request, RequestHandler, Response, Router } from 'express';
import { brusselsMidnight, nextBrusselsMidnight } from '../domain/brussels-day';
import { ServiceError } from '../domain/errors';
import type { Logger } from '../log';
import { BadRequest, parseInput, type OperatorService } from '../operations';
import type { JobOperations } from '../operations/jobs';
import { link } from './layout';
import { formFields, requireReason, sessionOf } from './request';
import type { ConsoleSessions } from './sessions';

/**
 * The console's state changes: each parses its form into the admin API's own input, asks for a
 * reason, calls the same operator use case under the signed-in operator's name (which audits
 * it), and redirects to a page that shows the outcome once (post, redirect, get).
 */
export function consoleActions(deps: { operations: OperatorService; jobs: JobOperations; sessions: ConsoleSessions; logger: Logger }) {
  const { operations, jobs, sessions } = deps;

  const action =
    (back: (req: Request) => string, run: (req: Request, operator: string) => Promise<string>): RequestHandler =>
    async (req: Request, res: Response) => {
      const session = sessionOf(res);
      try {
        await sessions.flash(session, { kind: 'ok', text: await run(req, session.operator) });
      } catch (error) {
        // Refusals an operator can act on are shown; anything else is a bug for the error page.
        if (!(error instanceof ServiceError) || (error.status >= 500 && error.status !== 503)) throw error;
        await sessions.flash(session, { kind: 'error', text: error.message });
      }
      res.redirect(303, back(req));
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

  const importDump = action(
    () => link('/data'),
    async (req, operator) => {
      if (!req.is('application/octet-stream')) throw new BadRequest('uploading a dump needs JavaScript in the browser (or use hsmp-admin import)');
      const query = req.query as Record<string, string | undefined>;
      const reason = requireReason({ reason: query.reason ?? '' });
      const job = await jobs.importKbo(req, parseInput('importKbo', { force: query.force ?? 'false', reason }), operator);
      deps.logger.info({ operator, job: job.id }, 'CBE dump received from the console');
      return `Received the CBE dump; importing it as job ${job.id}.`;
    },
  );

  return {
    importDump,
    mount(router: Router): void {
      router.post('/blocks/reactivate', reactivate);
      router.post('/allowances', grant);
      router.post('/allowances/:id/revoke', revokeAllowance);
    },
  };
}
