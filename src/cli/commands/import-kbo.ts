import { createReadStream, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pathOf, ROUTES } from '../../operations/routes';
import { CliError } from '../admin-client';
import type { RegisterCommands } from '../cli-context';
import { detachable, jobRunner } from './jobs';

/** The CBE import: the dump streamed to the server, with progress while it travels and merges. */
export const registerImportCommands: RegisterCommands = (program, context) => {
  const runJob = jobRunner(context);
  context
    .withReason(
      detachable(
        program
          .command('import-kbo <file>')
          .summary('import a CBE enterprise.csv dump')
          .description(
            "Import the CBE open-data dump's enterprise.csv: uploaded, then imported by a job on the server in one transaction: new active enterprises are added, those no longer listed as active become HSMP-012. A malformed file is refused with its line, and nothing changes.",
          )
          .option('--force', 'allow deactivating more than HSMP_IMPORT_MAX_DEACTIVATE_SHARE of the active enterprises'),
      ),
    )
    .action(async (file: string, o) => {
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new CliError(`cannot read ${file}`);
      }
      const progress = uploadProgress(size, (line) => process.stderr.write(line));
      const stream = createReadStream(file).pipe(progress.counter);
      const query = new URLSearchParams({ force: o.force ? 'true' : 'false', ...(o.reason ? { reason: o.reason } : {}) });
      let job;
      try {
        job = await context.call(ROUTES.importKbo.method, pathOf(ROUTES.importKbo, {}, query), undefined, { stream, contentType: 'text/csv' });
      } finally {
        progress.stop();
      }
      await runJob(job, o.detach);
    });
};

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
