import type { OperatorService } from '../../operations';
import type { ImportSummary } from '../../kbo/importer';
import type { ImportProgress, JobView, PrepareProgress, ReconcilePreview, ReconcileProgress } from '../../operations/jobs';
import type { ReconcileSummary } from '../../sml/reconcile-plan';
import { dataTable, html, type Html } from '../html';
import { csrfField, environmentSelect, link, reasonField, signedInPage, when, type PageContext } from '../layout';

export const jobLink = (id: string) => link(`/data/jobs/${id}`);
/** Seconds between reloads of a running job's page: progress is written at most once a second. */
const JOB_REFRESH_SECONDS = 2;
const RECENT_JOBS = 10;

/**
 * Data and SML (SPEC §4.1): upload a CBE dump (with the upload's progress), preview a
 * reconciliation's counts and confirm it, start a bulk preparation; each is a job whose page
 * shows its progress until it ends.
 */
export async function dataPage(ctx: PageContext, operations: OperatorService, jobs: readonly JobView[]): Promise<string> {
  const sml = await operations.smlStatus();
  const environments = sml?.map((s) => s.environment) ?? [];
  const content = html`<section aria-labelledby="jobs-h">
      <h2 id="jobs-h">Jobs, running and recent</h2>
      ${jobsTable(jobs, 'The most recent jobs, newest first')}
    </section>
    <section aria-labelledby="import-h">
      <h2 id="import-h">Import a CBE dump</h2>
      <form
        method="post"
        action="${link('/data/import')}"
        class="stacked"
        aria-labelledby="import-h"
        data-upload
        data-after="${link('/data')}"
        enctype="application/octet-stream"
      >
        ${csrfField(ctx)}
        <p>
          <label for="import-file">The CBE open-data dump's enterprise.csv</label>
          <input id="import-file" name="dump" type="file" accept=".csv,text/csv" required />
        </p>
        <p>
          <input id="import-force" name="force" type="checkbox" value="true" />
          <label for="import-force">Force: import even when it would deactivate more than HSMP_IMPORT_MAX_DEACTIVATE_SHARE of the enterprises</label>
        </p>
        <p>${reasonField('import-reason')}</p>
        <p><button type="submit">Upload and import</button></p>
        <p>
          <progress hidden max="1" value="0" aria-label="Upload of the dump"></progress>
          <span role="status"></span>
        </p>
      </form>
      <p class="hint">The upload needs JavaScript (it sends the file as it is, with its progress); without it, use <code>hsmp-admin import-kbo</code>.</p>
    </section>
    ${
      sml
        ? html`<section aria-labelledby="reconcile-h">
              <h2 id="reconcile-h">Reconcile with the SML</h2>
              <p>
                A preview reads the SML's listing and counts what a reconciliation would mark migrated (or that it would be refused), changing nothing; its page
                then offers to run it.
              </p>
              <form method="post" action="${link('/data/reconcile/preview')}" class="stacked" aria-label="Preview a reconciliation">
                ${csrfField(ctx)}
                <p>${environmentSelect('preview-environment', { environments, any: 'every environment served' })}</p>
                <p>${reasonField('preview-reason')}</p>
                <p><button type="submit">Preview the counts</button></p>
              </form>
            </section>
            <section aria-labelledby="prepare-h">
              <h2 id="prepare-h">Prepare keys in bulk</h2>
              <p>PrepareToMigrate a key at the SML for every active enterprise that has none prepared; resumable.</p>
              <form method="post" action="${link('/data/prepare')}" class="stacked" aria-labelledby="prepare-h">
                ${csrfField(ctx)}
                <p>${environmentSelect('prepare-environment', { environments })}</p>
                <p>
                  <label for="prepare-rate">SML calls per second at most (empty: unpaced)</label>
                  <input id="prepare-rate" name="rate" type="number" min="1" max="100000" />
                </p>
                <p>${reasonField('prepare-reason')}</p>
                <p><button type="submit">Start the preparation</button></p>
              </form>
            </section>`
        : html`<p>This deployment does not talk to the SML (HSMP_SML=off): no reconciliation or preparation here.</p>`
    }`;
  return signedInPage(ctx, 'Data and SML', content);
}

const KIND_LABELS: Record<JobView['kind'], string> = {
  'import-kbo': 'CBE import',
  'sml-reconcile': 'SML reconciliation',
  'sml-prepare': 'bulk preparation',
};

export function kindOf(job: JobView): string {
  const dryRun = (job.input as { dryRun?: boolean } | null)?.dryRun === true;
  return dryRun ? 'SML reconciliation preview' : KIND_LABELS[job.kind];
}

export function jobsTable(jobs: readonly JobView[], caption: string, empty = 'No job yet.'): Html {
  return dataTable(
    caption,
    ['Job', 'Kind', 'State', 'By', 'Started', 'Progress or outcome'],
    jobs
      .slice(0, RECENT_JOBS)
      .map((job) => [html`<a href="${jobLink(job.id)}">Job ${job.id}</a>`, kindOf(job), job.state, job.operator, when(job.startedAt), summaryOf(job)]),
    empty,
  );
}

/** What each kind of job stores as its result (the jobs' own types; a preview is a reconcile job's dry run). */
interface ReconcileResult {
  dryRun?: true;
  reconciliations?: ReconcileSummary[];
  previews?: ReconcilePreview[];
}
interface PrepareResult {
  environment: string;
  prepared: number;
  notOurs: number;
  seconds: number;
}

/** A job's progress while it runs, its outcome once it ended, in one line. */
export function summaryOf(job: JobView): string {
  if (job.problem) return job.problem.detail;
  switch (job.kind) {
    case 'import-kbo': {
      const r = job.result as ImportSummary | null;
      const p = job.progress as Partial<ImportProgress> | null;
      if (r) return `${r.rows} rows: added ${r.added}, reactivated ${r.reactivated}, deactivated ${r.deactivated}, unchanged ${r.unchanged}`;
      if (!p?.phase) return 'starting';
      return p.phase === 'receiving' ? `receiving the dump, ${bytes(p.bytes)}` : `importing, ${percent(p.bytes, p.of)} of the dump read`;
    }
    case 'sml-reconcile': {
      const r = job.result as ReconcileResult | null;
      const p = job.progress as Partial<ReconcileProgress> | null;
      if (r?.previews)
        return r.previews
          .map(
            (c) =>
              `${c.environment}: ${c.missing} of ${c.prepared} prepared keys no longer listed; ${c.refused ? 'a run would be refused' : `a run would mark ${c.wouldMark}`}`,
          )
          .join('; ');
      if (r?.reconciliations)
        return r.reconciliations
          .map((c) => `${c.environment}: ${c.missing} of ${c.prepared} prepared keys no longer listed, ${c.marked} marked migrated`)
          .join('; ');
      return p?.phase ? `${p.environment}: ${p.phase}, ${p.pages} pages, ${p.listed} participants listed` : 'starting';
    }
    case 'sml-prepare': {
      const r = job.result as PrepareResult | null;
      const p = job.progress as Partial<PrepareProgress> | null;
      if (r) return `${r.environment}: ${r.prepared} prepared, ${r.notOurs} not this SMP's, in ${r.seconds.toFixed(1)} s`;
      return p?.environment ? `${p.environment}: ${p.prepared} prepared, ${p.notOurs} not this SMP's, ${p.perSecond}/s` : 'starting';
    }
  }
}

const bytes = (n: unknown) => `${Math.round(Number(n) / 1024).toLocaleString('en')} kB`;
const percent = (n: unknown, of: unknown) => `${Math.floor((100 * Number(n)) / Math.max(Number(of), 1))} %`;

/** One job: what it is, its progress (reloading while it runs) or its outcome; a preview offers its run. */
export function jobPage(ctx: PageContext, job: JobView): string {
  const running = job.state === 'running';
  const p = job.kind === 'import-kbo' ? (job.progress as Partial<ImportProgress> | null) : null;
  const importing = p?.phase === 'importing' ? p : undefined;
  const result = job.kind === 'sml-reconcile' ? (job.result as ReconcileResult | null) : null;
  const content = html`<dl class="facts">
      <dt>Kind</dt>
      <dd>${kindOf(job)}</dd>
      <dt>State</dt>
      <dd><strong class="${job.state === 'succeeded' ? 'good' : running ? '' : 'bad'}">${job.state}</strong></dd>
      <dt>Started by</dt>
      <dd>${job.operator}${job.reason ? html` (“${job.reason}”)` : ''}</dd>
      <dt>Started</dt>
      <dd>${when(job.startedAt)}</dd>
      <dt>Ended</dt>
      <dd>${when(job.finishedAt)}</dd>
      <dt>${running ? 'Progress' : 'Outcome'}</dt>
      <dd><span role="status">${summaryOf(job)}</span></dd>
    </dl>
    ${importing ? html`<p><progress max="${importing.of ?? 1}" value="${importing.bytes}" aria-label="Import of the dump"></progress></p>` : ''}
    ${running ? html`<p class="hint">This page reloads every ${JOB_REFRESH_SECONDS} seconds until the job ends.</p>` : ''}
    ${result?.previews ? previewOf(ctx, result.previews) : ''}
    <p><a href="${link('/data')}">Back to Data and SML</a></p>`;
  return signedInPage(ctx, `Job ${job.id}`, content, { refreshSeconds: running ? JOB_REFRESH_SECONDS : undefined });
}

function previewOf(ctx: PageContext, previews: readonly ReconcilePreview[]): Html {
  const refused = previews.some((c) => c.refused);
  const environment = previews.length === 1 ? previews[0].environment : '';
  return html`${dataTable(
      'What a reconciliation would do now (nothing was changed)',
      ['Environment', 'Listed by the SML', 'Pages', 'Prepared keys', 'No longer listed', 'Would mark migrated', 'Share (window)', 'Safety valve'],
      previews.map((c) => [
        c.environment,
        c.listed,
        c.pages,
        c.prepared,
        c.missing,
        c.wouldMark,
        `${(100 * c.share).toFixed(1)} % of at most ${(100 * c.maxShare).toFixed(1)} % (${c.window.hours} h)`,
        c.refused ? html`<strong class="bad">would refuse the run</strong>` : 'lets it through',
      ]),
      'No environment.',
    )}
    <h2 id="confirm-h">Run it</h2>
    <form method="post" action="${link('/data/reconcile')}" class="stacked" aria-labelledby="confirm-h">
      ${csrfField(ctx)}
      <input type="hidden" name="environment" value="${environment}" />
      ${
        refused
          ? html`<p>
              <input id="confirm-force" name="force" type="checkbox" value="true" />
              <label for="confirm-force">Force: mark them although the safety valve would refuse (check the SML's listing first)</label>
            </p>`
          : ''
      }
      <p>${reasonField('confirm-reason')}</p>
      <p><button type="submit">Reconcile ${environment || 'every environment served'}</button></p>
    </form>
    <p class="hint">The run reads the listing again: its counts are those of the moment it runs, under the same safety valve.</p>`;
}
