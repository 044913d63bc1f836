import type { Command } from 'commander';
import { pathOf, ROUTES, type Route } from '../../operations/routes';
import { positiveInt, type CliContext, type RegisterCommands } from '../cli-context';

/** What happened: a day's usage, the audit log and the collection log, newest first, a page at a time. */
export const registerLogCommands: RegisterCommands = (program, context) => {
  const { call, out } = context;
  program
    .command('usage')
    .summary("a day's queries per user, per IP and globally")
    .description("Show a day's queries per user, per IP and globally, against their limits (today or yesterday, Brussels time).")
    .option('--day <YYYY-MM-DD>', 'the day (default: today)')
    .action(async (o) => {
      const result = await call(ROUTES.usage.method, pathOf(ROUTES.usage, {}, new URLSearchParams(o.day ? { day: o.day } : {})));
      out(result, () => [
        `usage on ${result.day}: ${result.global.count} of ${result.global.limit} globally`,
        ...result.users.map((u: any) => `  user ${u.seatId} [${u.environment}]: ${u.count}`),
        ...result.ips.map((i: any) => `  ip ${i.address}: ${i.count} of ${i.limit}`),
        ...(result.next === null ? [] : [`  (${result.totals.users} users and ${result.totals.ips} addresses in all; the busiest shown)`]),
      ]);
    });

  pagedLog(context, program.command('audit'), ROUTES.auditLog, {
    summary: 'the audit log: who changed what, when, and why',
    description: 'Show the audit log, newest first: every operator action and every job, with its operator, time, target, reason and result.',
    filters: [{ flags: '--operator <name>', help: 'only this operator', option: 'operator', parameter: 'operator' }],
    line: (e) => `${e.at} ${e.operator} ${e.action} ${e.target ?? ''}${e.reason ? `: ${e.reason}` : ''}${e.details ? ` ${JSON.stringify(e.details)}` : ''}`,
  });
  pagedLog(context, program.command('collections'), ROUTES.collectionLog, {
    summary: 'the collection log: who asked for which participant',
    description: 'Show the collection log, newest first: every query of the public route with its seat, IP, participant and outcome.',
    filters: [
      { flags: '--seat <seatId>', help: 'only this seat id (certificate CN)', option: 'seat', parameter: 'seatId' },
      { flags: '--participant <id>', help: 'only this participant (any spelling)', option: 'participant', parameter: 'participant' },
    ],
    line: (e) =>
      `${e.collected_at} ${e.seat_id} [${e.environment}] ${e.client_ip} ${e.participant} -> ${e.outcome} (request ${e.request_id}, certificate ${e.certificate_fingerprint})`,
  });
};

interface LogCommand {
  summary: string;
  description: string;
  /** An option, its help, commander's name for its value, and the query parameter it sets. */
  filters: Array<{ flags: string; help: string; option: string; parameter: string }>;
  line: (entry: any) => string;
}

function pagedLog({ call, out }: CliContext, command: Command, route: Route, spec: LogCommand): void {
  command.summary(spec.summary).description(`${spec.description}\nA page ends with the --before value that shows the next one.`);
  for (const { flags, help } of spec.filters) command.option(flags, help);
  command
    .option('--day <YYYY-MM-DD>', 'only this day (Brussels time)')
    .option('--limit <n>', 'entries per page (at most 1000)', positiveInt, 50)
    .option('--before <id>', 'the page before this entry id (from the previous page)')
    .action(async (o) => {
      const query = new URLSearchParams({ limit: String(o.limit) });
      for (const { option, parameter } of spec.filters) if (o[option] !== undefined) query.set(parameter, String(o[option]));
      if (o.day !== undefined) query.set('day', String(o.day));
      if (o.before !== undefined) query.set('before', String(o.before));
      const result = await call(route.method, pathOf(route, {}, query));
      out(result, () => [
        ...(result.entries.length ? result.entries.map(spec.line) : ['no entries']),
        ...(result.next ? [`more: --before ${result.next}`] : []),
      ]);
    });
}
