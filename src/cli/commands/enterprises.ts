import { pathOf, ROUTES } from '../../operations/routes';
import { positiveInt, type RegisterCommands } from '../cli-context';

const TYPE_MEANING: Record<string, string> = {
  '1': 'in hsmp, not in SMK: 200',
  '2': 'migrated: HSMP-013',
  '3': 'deleted: HSMP-012',
  '4': 'invalid: HSMP-001',
  '5': 'in hsmp and SMK: 200',
};

/** Enterprises: test datasets, and an operator's remove / mark-migrated / restore. */
export const registerEnterpriseCommands: RegisterCommands = (program, { call, out, withReason }) => {
  withReason(
    program
      .command('seed')
      .summary('create BOSA-like test datasets')
      .description('Create BOSA-like test datasets (test deployments): 10 numbers of each of the five types per dataset; prints the numbers by type.')
      .option('--datasets <n>', 'how many datasets', positiveInt, 1),
  ).action(async (o) => {
    const result = await call(ROUTES.seed.method, pathOf(ROUTES.seed), { datasets: o.datasets, reason: o.reason });
    out(result, () =>
      result.datasets.flatMap((d: { dataset: number; types: Record<string, string[]> }) => [
        `dataset ${d.dataset}`,
        ...Object.entries(d.types).map(([type, numbers]) => `  type ${type} (${TYPE_MEANING[type]}): ${numbers.join(' ')}`),
      ]),
    );
  });

  for (const [command, route, verb, description] of [
    [
      'remove',
      ROUTES.removeEnterprise,
      'removed (HSMP-012)',
      'Remove an enterprise: it answers HSMP-012 in every environment until restored, whatever later CBE imports say.',
    ],
    ['mark-migrated', ROUTES.markEnterpriseMigrated, 'marked migrated (HSMP-013)', 'Mark an enterprise migrated: it answers HSMP-013.'],
    [
      'restore',
      ROUTES.restoreEnterprise,
      'restored (active)',
      'Make an enterprise active again. A migrated one loses its spent key; its next collection gets a fresh one.',
    ],
  ] as const) {
    withReason(
      program
        .command(`${command} <number>`)
        .summary(`enterprise ${verb}`)
        .description(`${description}\nNUMBER is the enterprise number in any spelling the public route accepts.`),
    ).action(async (number: string, o) => {
      const result = await call(route.method, pathOf(route, { number }), { reason: o.reason });
      out(result, () => [`enterprise ${result.enterpriseNumber} ${verb}: was ${result.before}, now ${result.after}`]);
    });
  }
};
