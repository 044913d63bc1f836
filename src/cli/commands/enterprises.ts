import { pathOf, ROUTES } from '../../operations/routes';
import { environment, positiveInt, type RegisterCommands } from '../cli-context';

const TYPE_MEANING: Record<string, string> = {
  '1': 'in hsmp, not in SMK: 200',
  '2': 'migrated: HSMP-013',
  '3': 'deleted: HSMP-012',
  '4': 'invalid: HSMP-001',
  '5': 'in hsmp and SMK: 200',
};

/** Enterprises: test datasets, an operator's remove / mark-migrated / restore, the enterprise view and key revocation. */
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

  const describe = (state: { status: string; migratedIn: string[] }) =>
    `${state.status}${state.migratedIn.length ? `, migrated in ${state.migratedIn.join(', ')}` : ''}`;
  const changed = (result: any, verb: string) => [
    `enterprise ${result.enterpriseNumber} ${verb}: was ${describe(result.before)}; now ${describe(result.after)}`,
  ];
  const ANY_SPELLING = '\nNUMBER is the enterprise number in any spelling the public route accepts.';

  withReason(
    program
      .command('remove <number>')
      .summary('enterprise removed (HSMP-012)')
      .description(`Remove an enterprise: it answers HSMP-012 in every environment until restored, whatever later CBE imports say.${ANY_SPELLING}`),
  ).action(async (number: string, o) => {
    const result = await call(ROUTES.removeEnterprise.method, pathOf(ROUTES.removeEnterprise, { number }), { reason: o.reason });
    out(result, () => changed(result, 'removed (HSMP-012)'));
  });

  for (const [command, route, verb, description] of [
    ['mark-migrated', ROUTES.markEnterpriseMigrated, 'marked migrated (HSMP-013)', 'Mark an enterprise migrated to another SMP: it answers HSMP-013 there.'],
    [
      'restore',
      ROUTES.restoreEnterprise,
      'restored',
      "Make an enterprise hsmp's again. Without --environment also lifts an operator's removal; a migrated one loses its spent key there.",
    ],
  ] as const) {
    withReason(
      program
        .command(`${command} <number>`)
        .summary(`enterprise ${verb}`)
        .description(`${description}${ANY_SPELLING}`)
        .option('--environment <e>', 'only this environment (default: every environment served)', environment),
    ).action(async (number: string, o) => {
      const result = await call(route.method, pathOf(route, { number }), { environment: o.environment, reason: o.reason });
      out(result, () => changed(result, `${verb} in ${result.environments.join(', ')}`));
    });
  }

  program
    .command('enterprise <number>')
    .summary('status per environment, key state (never the key), recent collections')
    .description(`Show an enterprise: its status, per environment its migration and key state (never the key), and its recent collections.${ANY_SPELLING}`)
    .action(async (number: string) => {
      const result = await call(ROUTES.enterprise.method, pathOf(ROUTES.enterprise, { number }));
      out(result, () => [
        `enterprise ${result.enterpriseNumber}: ${result.status}${result.removedByOperator ? ' (removed by an operator)' : ''}${result.testData ? ', test data' : ''}`,
        ...result.environments.map(
          (e: any) =>
            `  ${e.environment}${e.served ? '' : ' (not served)'}: ${e.migrated ? `migrated ${e.migrated.at} (${e.migrated.by})` : "hsmp's"}; key ${e.key.state}` +
            `${e.key.preparedAt ? `, prepared ${e.key.preparedAt}` : ''}${e.key.firstHandedOutAt ? `, first handed out ${e.key.firstHandedOutAt}` : ''}, revoked ${e.key.revocations} times`,
        ),
        `recent collections (${result.recentCollections.length}):`,
        ...result.recentCollections.map((c: any) => `  ${c.at} ${c.environment} ${c.seatId} from ${c.clientIp}: ${c.outcome}`),
      ]);
    });

  program
    .command('key')
    .description("A participant's migration key (never shown).")
    .command('revoke <number>')
    .summary('make the key handed out so far worthless')
    .description(`Make the key handed out so far worthless: a fresh key is prepared at the SML in its place, and the next collection gets it.${ANY_SPELLING}`)
    .option('--environment <e>', 'only this environment (default: every environment served where a key was handed out)', environment)
    .requiredOption('--reason <text>', 'why, written to the audit log')
    .action(async (number: string, o) => {
      const result = await call(ROUTES.revokeKey.method, pathOf(ROUTES.revokeKey, { number }), { environment: o.environment, reason: o.reason });
      out(result, () => [
        ...result.revoked.map(
          (r: any) =>
            `revoked the ${r.environment} key of ${result.enterpriseNumber} (revocation ${r.revocations}): it had been collected ${r.revokedKey.collections} times` +
            `${r.revokedKey.users.length ? ` by ${r.revokedKey.users.join(', ')}` : ''}; a new key is prepared at the SML and goes to the next collection`,
        ),
        ...result.nothingToRevoke.map((n: any) => `${n.environment}: ${n.why}`),
      ]);
    });
};
