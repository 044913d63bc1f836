import type { Command } from 'commander';
import type { JobView } from '../../operations/jobs';
import { pathOf, ROUTES } from '../../operations/routes';
import { CliError, ListenerTrouble } from '../admin-client';
import { positiveInt, type CliContext, type RegisterCommands } from '../cli-context';
import { followJob, reattachHint } from '../job-follower';

/** The server holds a follower's request this long at most, waiting for the job to change. */
const FOLLOW_WAIT_SECONDS = 20;
/** How long a follower keeps trying to reach the listener again before it gives up (the job goes on). */
const FOLLOW_PATIENCE_MS = Number(process.env.HSMP_ADMIN_FOLLOW_PATIENCE_SECONDS ?? 120) * 1000;

/** Adds `--detach` to a command that starts a job. */
export const detachable = (command: Command): Command =>
  command.option('--detach', 'start the job and return; follow it later with `hsmp-admin jobs follow ID`');

/** Follows a job the server started until it ends, then prints its result (or fails with its problem). */
export function jobRunner({ call, out }: CliContext): (job: JobView, detach: boolean | undefined) => Promise<void> {
  const endOf = (job: JobView) => {
    if (job.state === 'succeeded') {
      const done = doneLine(job);
      if (done) process.stderr.write(`${done}\n`);
      out(job.result, () => resultLines(job));
      return;
    }
    const problem = job.problem;
    throw new CliError(`${problem?.detail ?? `job ${job.state}`} (${problem ? `HTTP ${problem.status}, ` : ''}job ${job.id})`);
  };
  return async (job, detach) => {
    if (detach) {
      out(job, () => [`job ${job.id} (${job.kind}) started; follow it with: ${reattachHint(job.id)}`]);
      return;
    }
    process.stderr.write(`job ${job.id} (${job.kind}) started; Ctrl-C detaches (the job goes on)\n`);
    const ended = await followJob(job, {
      fetch: (id, after) =>
        call(
          ROUTES.job.method,
          pathOf(ROUTES.job, { id }, new URLSearchParams({ wait: String(FOLLOW_WAIT_SECONDS), after: String(after) })),
          undefined,
          undefined,
          FOLLOW_WAIT_SECONDS,
        ),
      retryable: (error) => error instanceof ListenerTrouble,
      progressLine,
      write: (line) => process.stderr.write(`${line}\n`),
      patienceMs: FOLLOW_PATIENCE_MS,
    });
    endOf(ended);
  };
}

/** Jobs on the server (imports, reconciliations, preparations): list them, follow one again. */
export const registerJobCommands: RegisterCommands = (program, context) => {
  const runJob = jobRunner(context);
  const jobs = program
    .command('jobs')
    .summary('imports, reconciliations, preparations: running and recent')
    .description('List the jobs on the server, running and recent: CBE imports, SML reconciliations and bulk preparations, with their progress or result.')
    .option('--limit <n>', 'recent jobs shown besides the running ones', positiveInt, 20)
    .action(async (o) => {
      const result = await context.call(ROUTES.jobs.method, pathOf(ROUTES.jobs, {}, new URLSearchParams({ limit: String(o.limit) })));
      context.out(result, () => (result.jobs.length ? result.jobs.map(jobLine) : ['no jobs']));
    });
  jobs
    .command('follow <id>')
    .description('Follow a job until it ends (again), then print its result.')
    .action(async (id: string) => {
      const job = await context.call(ROUTES.job.method, pathOf(ROUTES.job, { id }));
      await runJob(job, false);
    });
};

function progressLine(job: JobView): string | undefined {
  const p = job.progress as any;
  if (!p || Object.keys(p).length === 0) return undefined;
  switch (job.kind) {
    case 'import-kbo':
      if (p.phase === 'receiving') return undefined;
      return p.bytes < p.of ? `import-kbo: importing, ${Math.floor((100 * p.bytes) / Math.max(p.of, 1))} % of the dump read` : 'import-kbo: all read; merging';
    case 'sml-reconcile':
      return `sml reconcile: ${p.environment}: ${p.phase}, ${p.pages} pages, ${p.listed} participants listed`;
    case 'sml-prepare':
      return `sml prepare: ${p.prepared} prepared, ${p.notOurs} not this SMP's, ${p.perSecond}/s${p.at ? `, at ${p.at}` : ''}`;
  }
}

function doneLine(job: JobView): string | undefined {
  const r = job.result as any;
  if (job.kind !== 'sml-prepare') return undefined;
  return `sml prepare: ${r.prepared} prepared, ${r.notOurs} not this SMP's, ${(r.prepared / Math.max(r.seconds, 0.001)).toFixed(1)}/s, done`;
}

function resultLines(job: JobView): string[] {
  const r = job.result as any;
  switch (job.kind) {
    case 'import-kbo':
      return [
        `imported ${r.rows} rows in ${r.seconds.toFixed(1)} s (${Math.round(r.rows / Math.max(r.seconds, 0.001))} rows/s; merge ${r.mergeSeconds.toFixed(1)} s): ` +
          `added ${r.added}, reactivated ${r.reactivated}, deactivated ${r.deactivated}, unchanged ${r.unchanged}`,
      ];
    case 'sml-reconcile':
      if (r.dryRun)
        return r.previews.map(
          (c: any) =>
            `preview of ${c.environment} (nothing changed): the SML lists ${c.listed} participants (${c.pages} pages); ${c.missing} of ${c.prepared} prepared keys no longer listed; ` +
            (c.refused
              ? `a run would be refused (${(100 * c.share).toFixed(1)} % > HSMP_SML_RECONCILE_MAX_SHARE ${c.maxShare}) unless forced`
              : `a run would mark ${c.wouldMark} migrated`),
        );
      return r.reconciliations.map(
        (c: any) =>
          `reconciled ${c.environment}: the SML lists ${c.listed} participants (${c.pages} pages); ${c.missing} of ${c.prepared} prepared keys no longer listed, ${c.marked} marked migrated`,
      );
    case 'sml-prepare':
      return [`prepared ${r.prepared} keys in ${r.environment} in ${r.seconds.toFixed(1)} s (${r.notOurs} not this SMP's)`];
  }
}

function jobLine(job: JobView): string {
  const ended = job.finishedAt ? `, ended ${job.finishedAt}` : '';
  const what = job.state === 'succeeded' ? resultLines(job).join('; ') : job.problem ? job.problem.detail : (progressLine(job) ?? 'starting');
  return `job ${job.id} ${job.kind} ${job.state} (started ${job.startedAt} by ${job.operator}${ended}): ${what}`;
}
