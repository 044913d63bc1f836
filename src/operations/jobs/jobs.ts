import { EventEmitter, once } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { HsmpError, ServiceError } from '../../domain/errors';
import type { Logger } from '../../log';
import { NotFound } from '../errors';
import { claimJob, finishJob, listJobs, readJob, renewJob, type JobEnd, type JobKind, type JobProblem, type JobView } from './job-repository';

/**
 * Work that can outlast an HTTP request (SPEC §4) runs here, detached from the request that
 * started it: the request claims the kind's one running slot (across every instance sharing
 * the database), gets the job back at once, and anyone can follow it by id. While the work
 * runs, this instance writes its progress at most once a second and renews its lease; an
 * instance that dies stops renewing, and its job is abandoned at the next start of its kind.
 */
export interface JobRequest {
  kind: JobKind;
  operator: string;
  reason?: string;
  input: unknown;
}

/** What the work sees: where to report progress, and a signal that says stop (shutdown, lease lost). */
export interface JobContext {
  readonly id: string;
  readonly signal: AbortSignal;
  /** The latest progress; stored and shown to followers at most once a second. */
  progress(progress: unknown): void;
}

export interface JobsOptions {
  pool: pg.Pool;
  logger: Logger;
  /** A job whose instance has not renewed its lease for this long counts as abandoned. */
  leaseSeconds: number;
  /** Longest a follower's request is held waiting for a change. */
  maxWaitSeconds?: number;
}

export class JobBusy extends ServiceError {
  constructor(readonly running: JobView) {
    super(
      'job-running',
      409,
      `a ${running.kind} job is already running (job ${running.id}, started ${running.startedAt} by ${running.operator}); follow it with: hsmp-admin jobs follow ${running.id}`,
      { details: { job: running } },
    );
  }
}

/** Why a job's work was told to stop. */
export class JobStopped extends ServiceError {
  constructor(why: 'shutdown' | 'lease-lost') {
    super(
      why === 'shutdown' ? 'job-interrupted' : 'job-abandoned',
      503,
      why === 'shutdown'
        ? 'the instance running this job shut down before it ended; what was committed stays, start the job again'
        : 'this instance lost the job (its lease ran out and another instance took the slot); start the job again',
    );
  }
}

const PROGRESS_INTERVAL_MS = 1000;
const POLL_INTERVAL_MS = 500;
const FINAL = new Set(['succeeded', 'failed', 'abandoned']);

class LocalJob {
  readonly controller = new AbortController();
  readonly changes = new EventEmitter();
  latest: unknown;
  dirty = false;
  lastRenewal = Date.now();
  settled: Promise<void> = Promise.resolve();

  constructor(public view: JobView) {
    this.latest = view.progress;
    this.changes.setMaxListeners(0);
  }

  update(view: JobView): void {
    this.view = view;
    this.changes.emit('change');
  }
}

export class Jobs {
  readonly instance = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  private readonly local = new Map<string, LocalJob>();
  private closing = false;

  constructor(private readonly options: JobsOptions) {}

  /** Claims the slot of the request's kind and runs `work` in the background; answers the job as started. */
  async start(request: JobRequest, work: (job: JobContext) => Promise<unknown>): Promise<JobView> {
    const job = await this.claim(request);
    job.run(work);
    return job.view();
  }

  /**
   * Claims the slot without running anything yet: a CBE import holds the slot while its upload
   * is received, then runs. Throws JobBusy (409) naming the running job.
   */
  async claim(request: JobRequest): Promise<ClaimedJob> {
    if (this.closing) throw new JobStopped('shutdown');
    const outcome = await claimJob(this.options.pool, {
      ...request,
      instance: this.instance,
      leaseSeconds: this.options.leaseSeconds,
      aliveHere: [...this.local.keys()],
    });
    if ('running' in outcome) throw new JobBusy(this.local.get(outcome.running.id)?.view ?? outcome.running);
    const job = new LocalJob(outcome.claimed);
    this.local.set(job.view.id, job);
    this.options.logger.info({ job: job.view.id, kind: request.kind, operator: request.operator }, 'job started');
    return new ClaimedJob(this, job);
  }

  /** The job, once it has a revision above `after` or has ended, or after `waitSeconds` (0: at once). */
  async get(id: string, wait: { after?: number; waitSeconds?: number } = {}): Promise<JobView> {
    const deadline = Date.now() + Math.min(wait.waitSeconds ?? 0, this.options.maxWaitSeconds ?? 25) * 1000;
    const changed = (view: JobView) => FINAL.has(view.state) || wait.after === undefined || view.revision > wait.after;
    for (;;) {
      const here = this.local.get(id);
      const view = here ? here.view : await readJob(this.options.pool, id);
      if (!view) throw new NotFound(`no job ${id}`);
      const left = deadline - Date.now();
      if (changed(view) || left <= 0) return view;
      if (here) await waitForChange(here, left);
      else await sleep(Math.min(POLL_INTERVAL_MS, left));
    }
  }

  /** Running jobs (of every instance) and the `limit` most recent others. */
  async list(limit: number): Promise<JobView[]> {
    const views = await listJobs(this.options.pool, limit);
    return views.map((v) => this.local.get(v.id)?.view ?? v);
  }

  /** Tells this instance's jobs to stop and waits for them to record it (bounded). */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    const jobs = [...this.local.values()];
    for (const job of jobs) job.controller.abort(new JobStopped('shutdown'));
    await Promise.race([Promise.all(jobs.map((j) => j.settled)), sleep(timeoutMs)]);
  }

  /** @internal */
  async execute(job: LocalJob, work: (job: JobContext) => Promise<unknown>): Promise<void> {
    const context: JobContext = {
      id: job.view.id,
      signal: job.controller.signal,
      progress: (progress) => {
        job.latest = progress;
        job.dirty = true;
      },
    };
    const timer = setInterval(() => void this.tick(job), PROGRESS_INTERVAL_MS);
    timer.unref();
    try {
      const result = await work(context);
      job.controller.signal.throwIfAborted();
      await this.finish(job, { state: 'succeeded', result, progress: job.latest });
    } catch (error) {
      const stopped: unknown = job.controller.signal.aborted ? job.controller.signal.reason : error;
      const problem = this.problemOf(job, stopped);
      await this.finish(job, { state: 'failed', problem, progress: job.latest });
    } finally {
      clearInterval(timer);
      this.local.delete(job.view.id);
    }
  }

  /** @internal Fails a claimed job that never ran (its upload failed). */
  async fail(job: LocalJob, error: unknown): Promise<void> {
    try {
      await this.finish(job, { state: 'failed', problem: this.problemOf(job, error), progress: job.latest });
    } finally {
      this.local.delete(job.view.id);
    }
  }

  private async tick(job: LocalJob): Promise<void> {
    const renewalDue = Date.now() - job.lastRenewal >= (this.options.leaseSeconds * 1000) / 3;
    if (!job.dirty && !renewalDue) return;
    const wasDirty = job.dirty;
    job.dirty = false;
    const revision = job.view.revision + 1;
    if (wasDirty) job.update({ ...job.view, progress: job.latest, revision });
    try {
      const ours = await renewJob(this.options.pool, job.view.id, this.instance, job.latest, this.options.leaseSeconds, revision);
      job.lastRenewal = Date.now();
      if (!ours) job.controller.abort(new JobStopped('lease-lost'));
      else if (!wasDirty) job.update({ ...job.view, revision, heartbeatAt: new Date().toISOString() });
    } catch (error) {
      // The database is busy or away; the lease has slack for a few missed renewals.
      if (wasDirty) job.dirty = true;
      this.options.logger.warn({ err: error, job: job.view.id }, 'could not renew a job lease');
    }
  }

  private async finish(job: LocalJob, end: JobEnd): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const view = await finishJob(this.options.pool, job.view.id, this.instance, end, job.view.revision);
        job.update(view ?? { ...job.view, state: 'abandoned', revision: job.view.revision + 1, problem: this.problemOf(job, new JobStopped('lease-lost')) });
        this.options.logger[end.state === 'succeeded' ? 'info' : 'warn'](
          { job: job.view.id, kind: job.view.kind, state: job.view.state, problem: job.view.problem?.code },
          'job ended',
        );
        return;
      } catch (error) {
        if (attempt >= 5) {
          this.options.logger.error({ err: error, job: job.view.id }, 'could not record the end of a job; it will show as abandoned');
          return;
        }
        await sleep(attempt * 500);
      }
    }
  }

  private problemOf(job: LocalJob, error: unknown): JobProblem {
    if (error instanceof ServiceError && error.status !== 500) {
      const code = error instanceof HsmpError ? 'unavailable' : error.code;
      return { ...error.details, code, status: error.status, detail: error.message };
    }
    this.options.logger.error({ err: error, job: job.view.id, kind: job.view.kind }, 'job failed');
    return { code: 'internal-error', status: 500, detail: `job ${job.view.id} failed unexpectedly; the service log has the cause` };
  }
}

/** A claimed slot: run the work, or fail it (an import whose upload did not arrive). */
export class ClaimedJob {
  constructor(
    private readonly jobs: Jobs,
    private readonly job: LocalJob,
  ) {}

  get id(): string {
    return this.job.view.id;
  }

  get signal(): AbortSignal {
    return this.job.controller.signal;
  }

  view(): JobView {
    return this.job.view;
  }

  progress(progress: unknown): void {
    this.job.latest = progress;
    this.job.dirty = true;
  }

  run(work: (job: JobContext) => Promise<unknown>): void {
    this.job.settled = this.jobs.execute(this.job, work);
  }

  fail(error: unknown): Promise<void> {
    this.job.settled = this.jobs.fail(this.job, error);
    return this.job.settled;
  }
}

async function waitForChange(job: LocalJob, ms: number): Promise<void> {
  const timeout = AbortSignal.timeout(ms);
  await once(job.changes, 'change', { signal: timeout }).catch(() => undefined);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
