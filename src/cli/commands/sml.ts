import { pathOf, ROUTES } from '../../operations/routes';
import { CliError } from '../admin-client';
import { environment, positiveInt, type RegisterCommands } from '../cli-context';

/** The SML: reconciliation (finished migrations become HSMP-013) and bulk preparation of keys. */
export const registerSmlCommands: RegisterCommands = (program, { call, out, withReason }) => {
  const sml = program
    .command('sml')
    .summary('the SML: reconcile migrations, prepare keys in bulk')
    .description('Work with the Peppol SML of each served environment.');
  withReason(
    sml
      .command('reconcile')
      .description(
        "Read this SMP's participants from the SML; enterprises with a prepared key that it no longer lists have migrated and become HSMP-013. Prints the counts. Refused, changing nothing, when more than HSMP_SML_RECONCILE_MAX_SHARE of the prepared keys would go, unless --force.",
      )
      .option('--environment <e>', 'only this environment (test or production)', environment)
      .option('--force', 'mark them even when more than HSMP_SML_RECONCILE_MAX_SHARE of the prepared keys would go'),
  ).action(async (o) => {
    const result = await call(ROUTES.smlReconcile.method, pathOf(ROUTES.smlReconcile), {
      environment: o.environment,
      force: Boolean(o.force),
      reason: o.reason,
    });
    out(result, () =>
      result.reconciliations.map(
        (r: any) =>
          `reconciled ${r.environment}: the SML lists ${r.listed} participants (${r.pages} pages); ${r.missing} of ${r.prepared} prepared keys no longer listed, ${r.marked} marked migrated`,
      ),
    );
  });
  withReason(
    sml
      .command('prepare')
      .description(
        'PrepareToMigrate a key at the SML for every active enterprise that has none prepared, at a bounded rate, with progress on stderr. Resumable: run it again after a stop.',
      )
      .option('--environment <e>', 'the environment (needed when the deployment serves several)', environment)
      .option('--rate <n>', 'SML calls per second at most', positiveInt, 10),
  ).action(async (o) => {
    const started = Date.now();
    const total = { prepared: 0, notOurs: 0 };
    let after: string | undefined;
    let environmentName = o.environment ?? '';
    do {
      const batchStarted = Date.now();
      const limit = Math.min(100, o.rate);
      let result;
      try {
        result = await call(ROUTES.smlPrepare.method, pathOf(ROUTES.smlPrepare), { environment: o.environment, after, limit, reason: o.reason });
      } catch (error) {
        throw new CliError(`${(error as Error).message}; ${total.prepared} prepared so far, run the same command again to go on`);
      }
      total.prepared += result.prepared;
      total.notOurs += result.notOurs;
      environmentName = result.environment;
      after = result.next;
      const seconds = (Date.now() - started) / 1000;
      process.stderr.write(
        `sml prepare: ${total.prepared} prepared, ${total.notOurs} not this SMP's, ${(total.prepared / Math.max(seconds, 0.001)).toFixed(1)}/s${after ? `, at ${after}` : ', done'}\n`,
      );
      // Paces the SML calls: a batch of `limit` takes at least limit / rate seconds.
      const wait = (limit / o.rate) * 1000 - (Date.now() - batchStarted);
      if (after && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    } while (after);
    const seconds = (Date.now() - started) / 1000;
    out({ environment: environmentName, ...total, seconds }, () => [
      `prepared ${total.prepared} keys in ${environmentName} in ${seconds.toFixed(1)} s (${total.notOurs} not this SMP's)`,
    ]);
  });
};
