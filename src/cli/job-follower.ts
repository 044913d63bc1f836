import type { JobView } from '../operations/jobs';

/**
 * Follows a job on the server until it ends (SPEC §4): each request waits on the server for the
 * next change (so no HTTP timeout needs to be longer than the work), progress goes to stderr as
 * it changes, and a lost connection is retried for a while. The job does not depend on this
 * process: Ctrl-C or a lost connection leaves it running, and `hsmp-admin jobs follow ID`
 * picks it up again.
 */
export interface FollowOptions {
  /** The job once its revision is above `after` (or it ended, or the server's wait passed). */
  fetch(id: string, after: number): Promise<JobView>;
  /** Whether a failed fetch is worth retrying (listener unreachable, or 503). */
  retryable(error: unknown): boolean;
  progressLine(job: JobView): string | undefined;
  write(line: string): void;
  /** How long to keep trying to reach the listener again before giving up (the job goes on). */
  patienceMs: number;
}

export const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'abandoned']);

export function reattachHint(id: string): string {
  return `hsmp-admin jobs follow ${id}`;
}

export async function followJob(started: JobView, options: FollowOptions): Promise<JobView> {
  let job = started;
  let shown = options.progressLine(job);
  if (shown) options.write(shown);
  let failingSince: number | undefined;
  const detach = () => {
    options.write(`detached from job ${job.id}; it goes on on the server: ${reattachHint(job.id)}`);
    process.exit(130);
  };
  process.once('SIGINT', detach);
  try {
    while (!FINAL_STATES.has(job.state)) {
      try {
        job = await options.fetch(job.id, job.revision);
        if (failingSince !== undefined) options.write(`reached the admin listener again; following job ${job.id}`);
        failingSince = undefined;
      } catch (error) {
        if (!options.retryable(error)) throw error;
        const message = error instanceof Error ? error.message : String(error);
        if (failingSince === undefined) {
          failingSince = Date.now();
          options.write(`${message}; trying again (the job goes on on the server)`);
        }
        if (Date.now() - failingSince > options.patienceMs)
          throw new Error(`${message}; gave up following job ${job.id}, which goes on on the server: ${reattachHint(job.id)}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      const line = options.progressLine(job);
      if (line && line !== shown) options.write(line);
      shown = line;
    }
  } finally {
    process.off('SIGINT', detach);
  }
  return job;
}
