import { ServiceError } from '../../domain/errors';
import { parseInput, type OperatorService } from '../../operations';
import { collectionsChart } from '../chart';
import { dataTable, html, type Html } from '../html';
import type { JobView } from '../../operations/jobs';
import { link, signedInPage, when, type PageContext } from '../layout';
import { jobsTable } from './data';

/** Users and addresses shown on the Overview, busiest first. */
const BUSIEST = 20;

type Usage = Awaited<ReturnType<OperatorService['usage']>>;
type Blocks = Awaited<ReturnType<OperatorService['blocks']>>;
type SmlStatus = Awaited<ReturnType<OperatorService['smlStatus']>>;

/** Gathers the Overview (SPEC §4.1) from the operator use cases. */
export async function overviewPage(ctx: PageContext, operations: OperatorService, jobs: readonly JobView[]): Promise<string> {
  const [usage, perHour, blocks, sml] = await Promise.all([
    operations.usage(parseInput('usage', { limit: BUSIEST })),
    // A chart too slow to read (503) leaves the rest of the Overview standing.
    operations.collectionsPerHour(7).catch((error: unknown) => {
      if (error instanceof ServiceError && error.status === 503) return error;
      throw error;
    }),
    operations.blocks(),
    operations.smlStatus(),
  ]);
  const content = html` <section aria-labelledby="usage-h">
      <h2 id="usage-h">Today's usage (${usage.day}, Brussels)</h2>
      ${usageTables(usage, operations)}
    </section>
    <section aria-labelledby="chart-h">
      <h2 id="chart-h">Collections per hour, last 7 days</h2>
      ${perHour instanceof ServiceError ? html`<p role="alert">${perHour.message}</p>` : collectionsChart(perHour.counts, perHour.since, perHour.until)}
    </section>
    <section aria-labelledby="blocks-h">
      <h2 id="blocks-h">Blocks in force</h2>
      ${blockSummary(blocks)}
    </section>
    <section aria-labelledby="sml-h">
      <h2 id="sml-h">SML</h2>
      ${smlTable(sml)}
    </section>
    <section aria-labelledby="running-h">
      <h2 id="running-h">Jobs running</h2>
      ${jobsTable(
        jobs.filter((job) => job.state === 'running'),
        'Imports, reconciliations and preparations running now',
        'None running.',
      )}
      <p><a href="${link('/data')}">Recent jobs on Data and SML</a></p>
    </section>`;
  return signedInPage(ctx, 'Overview', content);
}

function meter(count: number, limit: number, label: string): Html {
  return html`<meter min="0" max="${limit}" value="${Math.min(count, limit)}" high="${Math.floor(limit * 0.8)}" aria-label="${label}">
    ${count} of ${limit}
  </meter>`;
}

function usageTables(usage: Usage, operations: OperatorService): Html {
  const limits = operations.limits();
  return html` <p>Global: <strong>${usage.global.count}</strong> of ${usage.global.limit} ${meter(usage.global.count, usage.global.limit, 'global usage')}</p>
    ${dataTable(
      html`Access points (users) by collections today${usage.totals.users > BUSIEST ? html`, the ${BUSIEST} busiest of ${usage.totals.users}` : ''}`,
      ['Seat', 'Environment', 'Collections', 'Limit', 'Share'],
      usage.users.map((u) => {
        const limit = operations.userLimit(u.seatId, u.environment);
        return [u.seatId, u.environment, u.count, limit, meter(u.count, limit, `usage of ${u.seatId} in ${u.environment}`)];
      }),
      'No collection today.',
    )}
    ${dataTable(
      html`Client addresses by collections today (limit ${limits.ipDaily}
      each)${usage.totals.ips > BUSIEST ? html`, the ${BUSIEST} busiest of ${usage.totals.ips}` : ''}`,
      ['Address', 'Collections', 'Share'],
      usage.ips.map((ip) => [ip.address, ip.count, meter(ip.count, ip.limit, `usage of ${ip.address}`)]),
      'No collection today.',
    )}`;
}

function blockSummary(blocks: Blocks): Html {
  const total = blocks.users.length + blocks.ips.length + (blocks.global ? 1 : 0);
  if (total === 0) return html`<p>No block in force.</p>`;
  return html`<ul class="blocks">
      ${blocks.global ? html`<li><strong>Global lock</strong> since ${when(blocks.global.blockedAt)}</li>` : ''}
      ${blocks.users.map((b) => html`<li>User <strong>${b.seatId}</strong> (${b.environment}) since ${when(b.blockedAt)}</li>`)}
      ${blocks.ips.map((b) => html`<li>Address <strong>${b.address}</strong> since ${when(b.blockedAt)}</li>`)}
    </ul>
    <p><a href="${link('/blocks')}">Reactivate on Blocks and allowances</a></p>`;
}

function smlTable(sml: SmlStatus): Html {
  if (!sml) return html`<p>This deployment does not talk to the SML (HSMP_SML=off).</p>`;
  return dataTable(
    'SML health as this instance last saw it, and the last reconciliation',
    ['Environment', 'Health', 'Last problem', 'Last reconciliation'],
    sml.map((s) => [
      s.environment,
      healthOf(s.health),
      s.health.lastProblem ? html`${when(s.health.lastProblem.at)}: ${s.health.lastProblem.trouble}` : '–',
      s.lastReconciliation
        ? html`${when(s.lastReconciliation.finishedAt)}: ${s.lastReconciliation.missing} missing, ${s.lastReconciliation.marked} marked migrated`
        : 'never',
    ]),
    'No environment served.',
  );
}

function healthOf(state: NonNullable<SmlStatus>[number]['health']): Html {
  if (state.deploymentOk === false) return html`<strong class="bad">refuses this SMP</strong>`;
  if (state.reachable === false) return html`<strong class="bad">unreachable</strong>`;
  return state.reachable ? html`<span class="good">answering</span>` : html`not called yet`;
}
