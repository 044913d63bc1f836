import { pathOf, ROUTES } from '../../operations/routes';
import { environment, positiveInt, type RegisterCommands } from '../cli-context';
import { detachable, jobRunner } from './jobs';

/** The SML: reconciliation (finished migrations become HSMP-013) and bulk preparation of keys. */
export const registerSmlCommands: RegisterCommands = (program, context) => {
  const runJob = jobRunner(context);
  const sml = program
    .command('sml')
    .summary('the SML: reconcile migrations, prepare keys in bulk (jobs on the server)')
    .description('Work with the Peppol SML of each served environment; reconciliation and bulk preparation run as jobs on the server.');
  context
    .withReason(
      detachable(
        sml
          .command('reconcile')
          .description(
            "Read this SMP's participants from the SML; enterprises with a prepared key that it no longer lists have migrated and become HSMP-013. Prints the counts. Refused, changing nothing, when more than HSMP_SML_RECONCILE_MAX_SHARE of the prepared keys would go, unless --force.",
          )
          .option('--environment <e>', 'only this environment (test or production)', environment)
          .option('--force', 'mark them even when more than HSMP_SML_RECONCILE_MAX_SHARE of the prepared keys would go')
          .option('--dry-run', 'only count: read the listing and print what a run would mark (or that it would be refused), changing nothing'),
      ),
    )
    .action(async (o) => {
      const job = await context.call(ROUTES.smlReconcile.method, pathOf(ROUTES.smlReconcile), {
        environment: o.environment,
        force: Boolean(o.force),
        dryRun: Boolean(o.dryRun),
        reason: o.reason,
      });
      await runJob(job, o.detach);
    });
  context
    .withReason(
      detachable(
        sml
          .command('prepare')
          .description(
            'PrepareToMigrate a key at the SML for every active enterprise that has none prepared, with progress. Resumable: what is prepared stays prepared.',
          )
          .option('--environment <e>', 'the environment (needed when the deployment serves several)', environment)
          .option('--rate <n>', 'SML calls per second at most (default: HSMP_SML_PREPARE_CONCURRENCY calls in flight, unpaced)', positiveInt),
      ),
    )
    .action(async (o) => {
      const job = await context.call(ROUTES.smlPrepare.method, pathOf(ROUTES.smlPrepare), { environment: o.environment, rate: o.rate, reason: o.reason });
      await runJob(job, o.detach);
    });
};
