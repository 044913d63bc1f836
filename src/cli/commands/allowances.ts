import { pathOf, ROUTES } from '../../operations/routes';
import { environment, isoInstant, positiveInt, type RegisterCommands } from '../cli-context';

/** Scheduled allowances: a higher daily limit for a seat between two instants. */
export const registerAllowanceCommands: RegisterCommands = (program, { call, out, withReason }) => {
  const allowance = program
    .command('allowance')
    .summary('scheduled allowances: grant, list, revoke')
    .description('A scheduled allowance gives a seat a higher daily limit between two instants (a planned bulk migration).');
  withReason(
    allowance
      .command('grant <seatId>')
      .description('Grant a seat a higher daily limit between two instants.')
      .requiredOption('--limit <n>', 'daily limit inside the window', positiveInt)
      .requiredOption('--from <iso8601>', 'start of the window, with its zone', isoInstant)
      .requiredOption('--to <iso8601>', 'end of the window, with its zone', isoInstant)
      .option('--environment <e>', 'only the seat of this environment (test or production)', environment),
  ).action(async (seatId: string, o) => {
    const result = await call(ROUTES.grantAllowance.method, pathOf(ROUTES.grantAllowance), {
      seatId,
      limit: o.limit,
      from: o.from,
      to: o.to,
      environment: o.environment,
      reason: o.reason,
    });
    out(result, () =>
      result.allowances.map((a: any) => `allowance ${a.id}: ${a.seatId} [${a.environment}] ${a.dailyLimit}/day from ${a.validFrom} to ${a.validTo}`),
    );
  });
  allowance
    .command('list')
    .description('List the allowances.')
    .action(async () => {
      const result = await call(ROUTES.allowances.method, pathOf(ROUTES.allowances));
      out(result, () =>
        result.allowances.length
          ? result.allowances.map(
              (a: any) => `allowance ${a.id}: ${a.seatId} [${a.environment}] ${a.dailyLimit}/day from ${a.validFrom} to ${a.validTo} (by ${a.grantedBy})`,
            )
          : ['no allowances'],
      );
    });
  withReason(allowance.command('revoke <id>').description('Revoke an allowance (its id from allowance list).')).action(async (id: string, o) => {
    const result = await call(ROUTES.revokeAllowance.method, pathOf(ROUTES.revokeAllowance, { id }), { reason: o.reason });
    out(result, () => [`allowance ${result.revoked} revoked`]);
  });
};
