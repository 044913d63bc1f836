import { pathOf, ROUTES } from '../../operations/routes';
import { environment, type RegisterCommands } from '../cli-context';

/** Blocks in force (blacklisted seats, blocked IPs, the global lock) and lifting them. */
export const registerBlockCommands: RegisterCommands = (program, { call, out, withReason }) => {
  program
    .command('blacklist')
    .summary('blocks in force: seats, IPs, the global lock')
    .description('List the blocks in force: blacklisted seats (HSMP-811), blocked IP addresses (HSMP-813) and the global lock (HSMP-812).')
    .action(async () => {
      const result = await call(ROUTES.blocks.method, pathOf(ROUTES.blocks));
      out(result, () => [
        `users (${result.users.length}):`,
        ...result.users.map((u: any) => `  ${u.seatId} [${u.environment}] since ${u.blockedAt}: ${u.reason}`),
        `IPs (${result.ips.length}):`,
        ...result.ips.map((i: any) => `  ${i.address} since ${i.blockedAt}: ${i.reason}`),
        `global lock: ${result.global ? `since ${result.global.blockedAt}: ${result.global.reason}` : 'none'}`,
      ]);
    });

  const reactivate = program
    .command('reactivate')
    .summary('lift a block (user, ip or global)')
    .description("Lift a block and reset that subject's count for today. Finding no block is an error (exit 1) and changes nothing.");
  const lift = async (body: Record<string, unknown>) => {
    const result = await call(ROUTES.reactivate.method, pathOf(ROUTES.reactivate), body);
    out(result, () => [`reactivated: ${result.reactivated.join(', ')}`]);
  };
  withReason(
    reactivate
      .command('user <seatId>')
      .description("Lift a blacklisted seat's block (HSMP-811). Without --environment, in every environment.")
      .option('--environment <e>', 'only the seat of this environment (test or production)', environment),
  ).action(async (seatId: string, o) => {
    await lift({ kind: 'user', seatId, environment: o.environment, reason: o.reason });
  });
  withReason(reactivate.command('ip <address>').description("Lift a blocked IP address's block (HSMP-813).")).action(async (address: string, o) => {
    await lift({ kind: 'ip', address, reason: o.reason });
  });
  withReason(reactivate.command('global').description('Lift the global lock (HSMP-812).')).action(async (o) => {
    await lift({ kind: 'global', reason: o.reason });
  });
};
