#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { createReadStream, statSync } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { request } from 'undici';
import { pathOf, ROUTES } from '../operations/routes';
import type { JobView } from '../operations/jobs';
import { followJob, reattachHint } from './job-follower';

/**
 * hsmp-admin: the operators' terminal for the admin listener (SPEC §8). Prints what it did;
 * --json prints the server's answer for scripts; any failure exits 1 with one line on stderr.
 */
class CliError extends Error {}
/** The listener did not answer, or answered 503: following a job tries again. */
class ListenerTrouble extends CliError {}

interface Globals {
  url: string;
  token?: string;
  json?: boolean;
}

async function call(
  globals: Globals,
  method: string,
  path: string,
  body?: unknown,
  upload?: { stream: Readable; contentType: string },
  waitSeconds = 0,
): Promise<any> {
  if (!globals.token) throw new CliError('HSMP_ADMIN_TOKEN is not set (the operator bearer token)');
  let response;
  const contentType = upload ? upload.contentType : body === undefined ? undefined : 'application/json';
  try {
    response = await request(new URL(path, globals.url), {
      method: method as 'GET',
      headers: { authorization: `Bearer ${globals.token}`, accept: 'application/json', ...(contentType ? { 'content-type': contentType } : {}) },
      body: upload ? upload.stream : body === undefined ? undefined : JSON.stringify(body),
      // An upload is answered once the whole dump is in: no time limit on waiting for it. A
      // follower's request is held by the server up to its wait.
      headersTimeout: upload ? 0 : 30_000 + waitSeconds * 1000,
      bodyTimeout: upload ? 0 : 300_000,
    });
  } catch (error) {
    throw new ListenerTrouble(`cannot reach the admin listener at ${globals.url}: ${(error as Error).message}`);
  }
  const text = await response.body.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new CliError(`unexpected answer from ${globals.url} (HTTP ${response.statusCode})`);
  }
  if (response.statusCode >= 400) {
    const Refusal = response.statusCode === 503 ? ListenerTrouble : CliError;
    throw new Refusal(`${parsed.detail ?? parsed.title ?? 'request refused'} (HTTP ${response.statusCode})`);
  }
  return parsed;
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
};
const environment = (value: string) => {
  if (value !== 'test' && value !== 'production') throw new InvalidArgumentError('expected test or production');
  return value;
};
const isoInstant = (value: string) => {
  if (Number.isNaN(Date.parse(value)) || !/T.*(Z|[+-]\d{2}:?\d{2})$/.test(value))
    throw new InvalidArgumentError('expected an ISO 8601 instant with a zone, e.g. 2026-12-01T00:00:00+01:00');
  return new Date(value).toISOString();
};

export function buildProgram(print: (line: string) => void = console.log): Command {
  const program = new Command('hsmp-admin')
    .description('Operate hsmp-mtci through its admin listener')
    .option('--url <url>', 'admin listener', process.env.HSMP_ADMIN_URL ?? 'http://127.0.0.1:9090')
    .option('--token <token>', 'operator bearer token (default: HSMP_ADMIN_TOKEN; never shown in help)')
    .option('--json', 'print the server answer as JSON')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const globals = (): Globals => {
    const options = program.opts<Globals>();
    return { ...options, token: options.token ?? process.env.HSMP_ADMIN_TOKEN };
  };
  const out = (result: unknown, human: () => string[]) => {
    if (globals().json) print(JSON.stringify(result, null, 2));
    else
      human().forEach((line) => {
        print(line);
      });
  };
  const reason = (cmd: Command) => cmd.option('--reason <text>', 'why, written to the audit log');

  reason(program.command('seed').description('create BOSA-like test datasets').option('--datasets <n>', 'how many datasets', positiveInt, 1)).action(
    async (o) => {
      const result = await call(globals(), ROUTES.seed.method, pathOf(ROUTES.seed), { datasets: o.datasets, reason: o.reason });
      out(result, () =>
        result.datasets.flatMap((d: { dataset: number; types: Record<string, string[]> }) => [
          `dataset ${d.dataset}`,
          ...Object.entries(d.types).map(([type, numbers]) => `  type ${type} (${TYPE_MEANING[type]}): ${numbers.join(' ')}`),
        ]),
      );
    },
  );

  const detachable = (cmd: Command) => cmd.option('--detach', 'start the job and return; follow it later with `hsmp-admin jobs follow ID`');
  /** Follows a job the server started until it ends, then prints its result (or fails with its problem). */
  const runJob = async (job: JobView, detach: boolean | undefined) => {
    if (detach) {
      out(job, () => [`job ${job.id} (${job.kind}) started; follow it with: ${reattachHint(job.id)}`]);
      return;
    }
    process.stderr.write(`job ${job.id} (${job.kind}) started; Ctrl-C detaches (the job goes on)\n`);
    const ended = await followJob(job, {
      fetch: (id, after) =>
        call(
          globals(),
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

  reason(
    detachable(
      program
        .command('import-kbo <file>')
        .description('import a CBE enterprise.csv dump: uploaded, then imported by a job on the server')
        .option('--force', 'allow deactivating more than the safety share of the registry'),
    ),
  ).action(async (file: string, o) => {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new CliError(`cannot read ${file}`);
    }
    const progress = uploadProgress(size, (line) => process.stderr.write(line));
    const stream = createReadStream(file).pipe(progress.counter);
    const query = new URLSearchParams({ force: o.force ? 'true' : 'false', ...(o.reason ? { reason: o.reason } : {}) });
    let job: JobView;
    try {
      job = await call(globals(), ROUTES.importKbo.method, pathOf(ROUTES.importKbo, {}, query), undefined, { stream, contentType: 'text/csv' });
    } finally {
      progress.stop();
    }
    await runJob(job, o.detach);
  });

  const describe = (state: { status: string; migratedIn: string[] }) =>
    `${state.status}${state.migratedIn.length ? `, migrated in ${state.migratedIn.join(', ')}` : ''}`;
  const changed = (result: any, verb: string) => [
    `enterprise ${result.enterpriseNumber} ${verb}: was ${describe(result.before)}; now ${describe(result.after)}`,
  ];
  reason(program.command('remove <number>').description('enterprise removed: HSMP-012 in every environment')).action(async (number: string, o) => {
    const result = await call(globals(), ROUTES.removeEnterprise.method, pathOf(ROUTES.removeEnterprise, { number }), { reason: o.reason });
    out(result, () => changed(result, 'removed (HSMP-012)'));
  });
  for (const [command, route, verb, description] of [
    ['mark-migrated', ROUTES.markEnterpriseMigrated, 'marked migrated (HSMP-013)', 'migrated to another SMP: HSMP-013 there'],
    ['restore', ROUTES.restoreEnterprise, 'restored', "hsmp's again there (without --environment: also lifts a removal)"],
  ] as const) {
    reason(
      program
        .command(`${command} <number>`)
        .description(`enterprise ${description}`)
        .option('--environment <e>', 'only this environment (default: every environment served)', environment),
    ).action(async (number: string, o) => {
      const result = await call(globals(), route.method, pathOf(route, { number }), { environment: o.environment, reason: o.reason });
      out(result, () => changed(result, `${verb} in ${result.environments.join(', ')}`));
    });
  }

  program
    .command('enterprise <number>')
    .description('status per environment, key state (never the key), recent collections')
    .action(async (number: string) => {
      const result = await call(globals(), ROUTES.enterprise.method, pathOf(ROUTES.enterprise, { number }));
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
    .description("a participant's migration key (never shown)")
    .command('revoke <number>')
    .description('make the key handed out so far worthless: a fresh key is prepared at the SML in its place (SPEC §9)')
    .option('--environment <e>', 'only this environment (default: every environment served where a key was handed out)', environment)
    .requiredOption('--reason <text>', 'why, written to the audit log')
    .action(async (number: string, o) => {
      const result = await call(globals(), ROUTES.revokeKey.method, pathOf(ROUTES.revokeKey, { number }), { environment: o.environment, reason: o.reason });
      out(result, () => [
        ...result.revoked.map(
          (r: any) =>
            `revoked the ${r.environment} key of ${result.enterpriseNumber} (revocation ${r.revocations}): it had been collected ${r.revokedKey.collections} times` +
            `${r.revokedKey.users.length ? ` by ${r.revokedKey.users.join(', ')}` : ''}; a new key is prepared at the SML and goes to the next collection`,
        ),
        ...result.nothingToRevoke.map((n: any) => `${n.environment}: ${n.why}`),
      ]);
    });

  program
    .command('blacklist')
    .description('users, IPs and global lock in force')
    .action(async () => {
      const result = await call(globals(), ROUTES.blocks.method, pathOf(ROUTES.blocks));
      out(result, () => [
        `users (${result.users.length}):`,
        ...result.users.map((u: any) => `  ${u.seatId} [${u.environment}] since ${u.blockedAt}: ${u.reason}`),
        `IPs (${result.ips.length}):`,
        ...result.ips.map((i: any) => `  ${i.address} since ${i.blockedAt}: ${i.reason}`),
        `global lock: ${result.global ? `since ${result.global.blockedAt}: ${result.global.reason}` : 'none'}`,
      ]);
    });

  const reactivate = program.command('reactivate').description('lift a block');
  const reactivated = (result: any) => [`reactivated: ${result.reactivated.join(', ')}`];
  reason(reactivate.command('user <seatId>').option('--environment <e>', 'only this environment', environment)).action(async (seatId: string, o) => {
    const result = await call(globals(), ROUTES.reactivate.method, pathOf(ROUTES.reactivate), {
      kind: 'user',
      seatId,
      environment: o.environment,
      reason: o.reason,
    });
    out(result, () => reactivated(result));
  });
  reason(reactivate.command('ip <address>')).action(async (address: string, o) => {
    const result = await call(globals(), ROUTES.reactivate.method, pathOf(ROUTES.reactivate), { kind: 'ip', address, reason: o.reason });
    out(result, () => reactivated(result));
  });
  reason(reactivate.command('global')).action(async (o) => {
    const result = await call(globals(), ROUTES.reactivate.method, pathOf(ROUTES.reactivate), { kind: 'global', reason: o.reason });
    out(result, () => reactivated(result));
  });

  const allowance = program.command('allowance').description('scheduled allowances');
  reason(
    allowance
      .command('grant <seatId>')
      .requiredOption('--limit <n>', 'daily limit inside the window', positiveInt)
      .requiredOption('--from <iso8601>', 'start of the window', isoInstant)
      .requiredOption('--to <iso8601>', 'end of the window', isoInstant)
      .option('--environment <e>', 'only this environment', environment),
  ).action(async (seatId: string, o) => {
    const result = await call(globals(), ROUTES.grantAllowance.method, pathOf(ROUTES.grantAllowance), {
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
  allowance.command('list').action(async () => {
    const result = await call(globals(), ROUTES.allowances.method, pathOf(ROUTES.allowances));
    out(result, () =>
      result.allowances.length
        ? result.allowances.map(
            (a: any) => `allowance ${a.id}: ${a.seatId} [${a.environment}] ${a.dailyLimit}/day from ${a.validFrom} to ${a.validTo} (by ${a.grantedBy})`,
          )
        : ['no allowances'],
    );
  });
  reason(allowance.command('revoke <id>')).action(async (id: string, o) => {
    const result = await call(globals(), ROUTES.revokeAllowance.method, pathOf(ROUTES.revokeAllowance, { id }), { reason: o.reason });
    out(result, () => [`allowance ${result.revoked} revoked`]);
  });

  program
    .command('usage')
    .description("a day's queries per user, per IP and globally (default: today, Brussels time)")
    .option('--day <YYYY-MM-DD>', 'the day')
    .action(async (o) => {
      const result = await call(globals(), ROUTES.usage.method, pathOf(ROUTES.usage, {}, new URLSearchParams(o.day ? { day: o.day } : {})));
      out(result, () => [
        `usage on ${result.day}: ${result.global.count} of ${result.global.limit} globally`,
        ...result.users.map((u: any) => `  user ${u.seatId} [${u.environment}]: ${u.count}`),
        ...result.ips.map((i: any) => `  ip ${i.address}: ${i.count} of ${i.limit}`),
        ...(result.next === null ? [] : [`  (${result.totals.users} users and ${result.totals.ips} addresses in all; the busiest shown)`]),
      ]);
    });
  const sml = program.command('sml').description('the SML: reconcile migrations, prepare keys in bulk (SPEC §9), as jobs on the server');
  reason(
    detachable(
      sml
        .command('reconcile')
        .description("read this SMP's participants from the SML; prepared keys it no longer lists become migrated (HSMP-013)")
        .option('--environment <e>', 'only this environment', environment)
        .option('--force', 'mark them even when more than HSMP_SML_RECONCILE_MAX_SHARE of the prepared keys would go'),
    ),
  ).action(async (o) => {
    const job = await call(globals(), ROUTES.smlReconcile.method, pathOf(ROUTES.smlReconcile), {
      environment: o.environment,
      force: Boolean(o.force),
      reason: o.reason,
    });
    await runJob(job, o.detach);
  });
  reason(
    detachable(
      sml
        .command('prepare')
        .description('PrepareToMigrate a key for every active enterprise that has none prepared; resumable')
        .option('--environment <e>', 'the environment (needed when the deployment serves several)', environment)
        .option('--rate <n>', 'SML calls per second at most (default: HSMP_SML_PREPARE_CONCURRENCY calls in flight, unpaced)', positiveInt),
    ),
  ).action(async (o) => {
    const job = await call(globals(), ROUTES.smlPrepare.method, pathOf(ROUTES.smlPrepare), { environment: o.environment, rate: o.rate, reason: o.reason });
    await runJob(job, o.detach);
  });

  const jobs = program
    .command('jobs')
    .description('imports, reconciliations, preparations: running and recent')
    .option('--limit <n>', 'recent jobs shown besides the running ones', positiveInt, 20)
    .action(async (o) => {
      const result = await call(globals(), ROUTES.jobs.method, pathOf(ROUTES.jobs, {}, new URLSearchParams({ limit: String(o.limit) })));
      out(result, () => (result.jobs.length ? result.jobs.map(jobLine) : ['no jobs']));
    });
  jobs
    .command('follow <id>')
    .description('follow a job until it ends (again), then print its result')
    .action(async (id: string) => {
      const job = await call(globals(), ROUTES.job.method, pathOf(ROUTES.job, { id }));
      await runJob(job, false);
    });
  return program;
}

/**
 * Counts what leaves for the server and reports it once a second: rows sent, share of the
 * file, rate. Once all is sent, the server still finishes checking and merges in one
 * statement, which reports no progress: say so, and how long it has been going.
 */
export function uploadProgress(size: number, write: (line: string) => void): { counter: Transform; stop(): void } {
  let bytes = 0;
  let rows = 0;
  const started = Date.now();
  let allSentAt = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
      callback(null, chunk);
    },
  });
  const timer = setInterval(() => {
    const now = Date.now();
    if (bytes < size) {
      write(`import-kbo: ${rows} rows read (${Math.round((100 * bytes) / Math.max(size, 1))} %), ${Math.round(rows / ((now - started) / 1000))} rows/s\n`);
    } else if (!allSentAt) {
      allSentAt = now;
      write(`import-kbo: all ${rows} rows sent in ${((now - started) / 1000).toFixed(1)} s; the server is checking the last rows and merging\n`);
    } else if (Math.round((now - allSentAt) / 1000) % 5 === 0) {
      write(`import-kbo: merging, ${Math.round((now - allSentAt) / 1000)} s\n`);
    }
  }, 1000);
  return {
    counter,
    stop: () => {
      clearInterval(timer);
    },
  };
}

/** The server holds a follower's request this long at most, waiting for the job to change. */
const FOLLOW_WAIT_SECONDS = 20;
/** How long a follower keeps trying to reach the listener again before it gives up (the job goes on). */
const FOLLOW_PATIENCE_MS = Number(process.env.HSMP_ADMIN_FOLLOW_PATIENCE_SECONDS ?? 120) * 1000;

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

const TYPE_MEANING: Record<string, string> = {
  '1': 'in hsmp, not in SMK: 200',
  '2': 'migrated: HSMP-013',
  '3': 'deleted: HSMP-012',
  '4': 'invalid: HSMP-001',
  '5': 'in hsmp and SMK: 200',
};

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      const code = (error as { code?: string }).code;
      if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
      if (code?.startsWith('commander.')) process.exit(1); // commander already printed its message
      process.stderr.write(`hsmp-admin: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
