import { createReadStream, createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Environment } from '../../domain/environment';
import { AdminProblem } from '../../domain/errors';
import { DumpTooLarge, importKboDump } from '../../kbo/importer';
import type { Logger } from '../../log';
import type { PreparedKeys } from '../../sml';
import type { Database } from '../../store/database';
import { audited } from '../../store/audit-log';
import { BadRequest } from '../errors';
import type { Inputs } from '../inputs';
import type { JobView } from './job-repository';
import { JobBusy, Jobs, type JobContext } from './jobs';
import type { ReconcileProgress, Reconciliation } from './reconciliation';

/**
 * The operators' long work as jobs (SPEC §4): a CBE import, a reconciliation and a bulk
 * preparation each answer with the job at once and go on without the request that started
 * them. `hsmp-admin` follows the job until it ends; so can anyone else, by its id.
 */
export interface JobOperationsOptions {
  database: Database;
  jobs: Jobs;
  logger: Logger;
  import: { maxDeactivateShare: number; maxBytes: number; uploadDir: string };
  /** Absent with HSMP_SML=off. */
  sml?: { keys: PreparedKeys; reconciliation: Reconciliation; environments: Environment[]; prepareConcurrency: number };
}

export interface ImportProgress {
  phase: 'receiving' | 'importing';
  bytes: number;
  /** The dump's size, once received. */
  of?: number;
}

export interface PrepareProgress {
  environment: Environment;
  prepared: number;
  notOurs: number;
  /** Where the next batch starts (enterprise-number order). */
  at: string | null;
  perSecond: number;
}

/** Active enterprises per batch of a bulk preparation (one query for the keys, then the SML calls). */
const PREPARE_BATCH = 100;

export class UploadIncomplete extends AdminProblem {
  constructor(cause: unknown) {
    super('upload-incomplete', 'the upload ended before the whole dump arrived; nothing was changed', { cause });
  }
}

export class JobOperations {
  constructor(private readonly options: JobOperationsOptions) {}

  list(limit: number): Promise<JobView[]> {
    return this.options.jobs.list(limit);
  }

  get(id: string, wait: Inputs['jobWait']): Promise<JobView> {
    return this.options.jobs.get(id, { after: wait.after, waitSeconds: wait.wait });
  }

  /**
   * Receives the dump into a file of the data directory (bounded by HSMP_IMPORT_MAX_BYTES), then
   * imports it as a job. The slot is claimed before the first byte is read: a second import is
   * refused before its upload, not after.
   */
  async importKbo(dump: Readable, input: Inputs['importKbo'], operator: string): Promise<JobView> {
    const job = await this.options.jobs.claim({ kind: 'import-kbo', operator, reason: input.reason, input: { force: input.force === 'true' } });
    const { maxBytes, maxDeactivateShare, uploadDir } = this.options.import;
    mkdirSync(uploadDir, { recursive: true, mode: 0o700 });
    const file = path.join(uploadDir, `job-${job.id}.csv`);
    // The request is not handed to pipeline, so that a refused upload does not destroy the
    // connection it came on: the caller can still answer.
    const body = dump.pipe(new PassThrough());
    // pipe() passes neither errors nor a cut connection on: a client gone mid-upload must fail it.
    dump.once('error', (error) => body.destroy(error));
    dump.once('close', () => {
      if (!dump.readableEnded) body.destroy(new Error('the client went away'));
    });
    try {
      await pipeline(
        body,
        countBytes(maxBytes, (bytes) => {
          job.progress({ phase: 'receiving', bytes } satisfies ImportProgress);
        }),
        createWriteStream(file, { mode: 0o600 }),
      );
    } catch (error) {
      dump.unpipe(body);
      dump.resume();
      rmSync(file, { force: true });
      const refusal = error instanceof AdminProblem ? error : new UploadIncomplete(error);
      await job.fail(refusal);
      throw refusal;
    }
    const size = statSync(file).size;
    job.run(async (context) => {
      try {
        const source = createReadStream(file).pipe(
          countBytes(Infinity, (bytes) => {
            context.progress({ phase: 'importing', bytes, of: size } satisfies ImportProgress);
          }),
        );
        return await importKboDump(this.options.database, source, {
          force: input.force === 'true',
          maxDeactivateShare,
          maxBytes,
          audit: { operator, reason: input.reason },
        });
      } finally {
        rmSync(file, { force: true });
      }
    });
    return job.view();
  }

  async reconcile(input: Inputs['smlReconcile'], operator: string): Promise<JobView> {
    const { sml, environments } = this.smlFor(input.environment);
    if (input.dryRun) {
      // A preview takes the reconciliation's slot too: its counts are those of the listing a run would read now.
      const request = { kind: 'sml-reconcile', operator, reason: input.reason, input: { environments, force: input.force, dryRun: true } } as const;
      return this.options.jobs.start(request, async (job) => ({
        dryRun: true,
        previews: await eachEnvironment(environments, job, (environment, watch) => sml.reconciliation.preview(environment, { force: input.force, ...watch })),
      }));
    }
    return this.options.jobs.start({ kind: 'sml-reconcile', operator, reason: input.reason, input: { environments, force: input.force } }, async (job) => ({
      reconciliations: await this.reconcileEach(sml.reconciliation, environments, { force: input.force, operator, reason: input.reason }, job),
    }));
  }

  /**
   * Every `intervalSeconds`, a reconciliation of each environment that no instance reconciled
   * within 90 % of the interval, as a job of the scheduler: one instance runs it, the others
   * find the slot taken or the environment fresh.
   */
  scheduleReconciliation(intervalSeconds: number): () => void {
    const sml = this.options.sml;
    if (!sml) return () => undefined;
    const timer = setInterval(() => {
      void (async () => {
        const due: Environment[] = [];
        for (const environment of sml.environments) if (!(await sml.reconciliation.reconciledWithin(environment, intervalSeconds * 0.9))) due.push(environment);
        if (due.length === 0) return;
        await this.options.jobs.start({ kind: 'sml-reconcile', operator: 'scheduler', input: { environments: due, force: false } }, async (job) => ({
          reconciliations: await this.reconcileEach(sml.reconciliation, due, { force: false, operator: 'scheduler' }, job),
        }));
      })().catch((error: unknown) => {
        if (error instanceof JobBusy) return;
        this.options.logger.error({ err: error }, 'could not start the scheduled SML reconciliation');
      });
    }, intervalSeconds * 1000);
    timer.unref();
    return () => {
      clearInterval(timer);
    };
  }

  /** Prepares a key with the SML for every active enterprise without one, HSMP_SML_PREPARE_CONCURRENCY calls at a time. */
  async prepare(input: Inputs['smlPrepare'], operator: string): Promise<JobView> {
    const { sml, environments } = this.smlFor(input.environment);
    if (environments.length !== 1) throw new BadRequest('environment: name one environment (this deployment serves several)');
    const environment = environments[0];
    return this.options.jobs.start({ kind: 'sml-prepare', operator, reason: input.reason, input: { environment, rate: input.rate ?? null } }, async (job) => {
      const started = Date.now();
      const progress: PrepareProgress = { environment, prepared: 0, notOurs: 0, at: '', perSecond: 0 };
      const audit = () =>
        audited(
          this.options.database.pool,
          {
            operator,
            action: 'sml-prepare',
            target: environment,
            reason: input.reason,
            details: { job: job.id, prepared: progress.prepared, notOurs: progress.notOurs },
          },
          async () => undefined,
        );
      try {
        do {
          job.signal.throwIfAborted();
          const batchStarted = Date.now();
          const batch = await sml.keys.prepareBatch(environment, progress.at ?? '', PREPARE_BATCH, sml.prepareConcurrency);
          progress.prepared += batch.prepared;
          progress.notOurs += batch.notOurs;
          progress.at = batch.next ?? null;
          progress.perSecond = Math.round((10 * progress.prepared) / Math.max((Date.now() - started) / 1000, 0.001)) / 10;
          job.progress({ ...progress });
          // --rate: a batch of N calls takes at least N / rate seconds.
          const pause = input.rate ? ((batch.prepared + batch.notOurs) / input.rate) * 1000 - (Date.now() - batchStarted) : 0;
          if (progress.at !== null && pause > 0) await sleep(pause, job.signal);
        } while (progress.at !== null);
      } finally {
        if (progress.prepared > 0 || progress.notOurs > 0) await audit();
      }
      return { environment, prepared: progress.prepared, notOurs: progress.notOurs, seconds: (Date.now() - started) / 1000 };
    });
  }

  private reconcileEach(
    reconciliation: Reconciliation,
    environments: Environment[],
    request: { force: boolean; operator: string; reason?: string },
    job: JobContext,
  ) {
    return eachEnvironment(environments, job, (environment, watch) => reconciliation.run(environment, { ...request, jobId: job.id, ...watch }));
  }

  private smlFor(asked: Environment | undefined) {
    const sml = this.options.sml;
    if (!sml) throw new AdminProblem('sml-off', 'HSMP_SML is off: this deployment does not talk to the SML');
    if (asked && !sml.environments.includes(asked)) throw new BadRequest(`environment: ${asked} is not served by this deployment`);
    return { sml, environments: asked ? [asked] : sml.environments };
  }
}

/**
 * Runs a reconciliation step (a run or a preview) for each environment in turn, under the job's
 * stop signal, reporting each step's progress with how many environments are done.
 */
async function eachEnvironment<T>(
  environments: Environment[],
  job: JobContext,
  step: (environment: Environment, watch: { signal: AbortSignal; onProgress(progress: ReconcileProgress): void }) => Promise<T>,
): Promise<T[]> {
  const done: T[] = [];
  for (const environment of environments) {
    const onProgress = (progress: ReconcileProgress) => {
      job.progress({ ...progress, environmentsDone: done.length, environments: environments.length });
    };
    done.push(await step(environment, { signal: job.signal, onProgress }));
  }
  return done;
}

/** Passes bytes through, reporting the count; more than `maxBytes` is DumpTooLarge. */
function countBytes(maxBytes: number, report: (bytes: number) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      report(bytes);
      callback(bytes > maxBytes ? new DumpTooLarge(maxBytes) : null, chunk);
    },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
