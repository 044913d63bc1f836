import { ServiceError } from '../../domain/errors';
import { parseEnterpriseNumber, type OperatorService } from '../../operations';
import { dataTable, html, type Html } from '../html';
import { csrfField, environmentSelect, link, reasonField, signedInPage, when, type PageContext } from '../layout';

type EnterpriseView = Awaited<ReturnType<OperatorService['enterprise']>>;
type EnvironmentView = EnterpriseView['environments'][number];

export const enterpriseLink = (enterpriseNumber: string) => link(`/enterprise?number=${enterpriseNumber}`);

/**
 * The Enterprise page (SPEC §4.1): a number looked up in any spelling, its status and per
 * environment its migration and key state (never the key), its recent collections, and the
 * changes (remove, mark migrated, restore, revoke key), each with a reason.
 */
export async function enterprisePage(ctx: PageContext, operations: OperatorService, asked: string | undefined): Promise<{ status: number; page: string }> {
  const search = searchForm(asked);
  if (asked === undefined || asked.trim() === '') return { status: 200, page: signedInPage(ctx, 'Enterprise', search) };
  let view: EnterpriseView;
  try {
    view = await operations.enterprise(parseEnterpriseNumber(asked.trim()));
  } catch (error) {
    // An invalid or unknown number is the answer to the lookup, shown beside the search form.
    if (!(error instanceof ServiceError) || (error.status !== 400 && error.status !== 404)) throw error;
    return {
      status: error.status,
      page: signedInPage(
        ctx,
        'Enterprise',
        html`${search}
          <p class="flash error" role="alert">${error.message}</p>`,
      ),
    };
  }
  return { status: 200, page: signedInPage(ctx, `Enterprise ${dotted(view.enterpriseNumber)}`, html`${search}${details(ctx, view)}`) };
}

function searchForm(asked: string | undefined): Html {
  return html`<form method="get" action="${link('/enterprise')}" class="inline" role="search" aria-label="Look an enterprise up">
    <label for="enterprise-number">Enterprise number (any spelling: 0123.456.789, BE0123456789, 0208:0123456789)</label>
    <input id="enterprise-number" name="number" value="${asked ?? ''}" required maxlength="64" autocomplete="off" />
    <button type="submit">Look up</button>
  </form>`;
}

const dotted = (n: string) => `${n.slice(0, 4)}.${n.slice(4, 7)}.${n.slice(7)}`;

function statusOf(view: EnterpriseView): string {
  if (view.status !== 'active') return view.removedByOperator ? `${view.status} (removed by an operator)` : `${view.status} (per the CBE)`;
  return view.status;
}

function migrationOf(e: EnvironmentView): Html {
  if (!e.served) return html`not served here`;
  return e.migrated ? html`<strong>migrated</strong> ${when(e.migrated.at)} (${e.migrated.by})` : html`not migrated`;
}

function keyOf(e: EnvironmentView): Html {
  const key = e.key;
  if (key.state === 'none') return html`none`;
  return html`<strong>${key.state}</strong>`;
}

function details(ctx: PageContext, view: EnterpriseView): Html {
  const number = view.enterpriseNumber;
  const served = view.environments.filter((e) => e.served).map((e) => e.environment);
  let form = 0;
  const change = (action: string, label: string, options: { perEnvironment?: boolean; danger?: boolean } = {}) => {
    form++;
    return html`<form method="post" action="${link(`/enterprise/${number}/${action}`)}" class="inline" aria-label="${label}">
      ${csrfField(ctx)}
      ${
        options.perEnvironment
          ? environmentSelect(`${action}-environment`, { environments: served, any: 'every environment served', label: (e) => `${e} only` })
          : ''
      }
      ${reasonField(`${action}-reason-${form}`)}
      <button type="submit" ${options.danger ? html`class="danger"` : ''}>${label}</button>
    </form>`;
  };
  return html`<section aria-labelledby="status-h">
      <h2 id="status-h">Status</h2>
      <dl class="facts">
        <dt>Enterprise number</dt>
        <dd>${dotted(number)} (participant 0208:${number})</dd>
        <dt>Status</dt>
        <dd>${statusOf(view)}</dd>
        <dt>Source</dt>
        <dd>${view.testData ? 'test data (seeded)' : 'CBE'}</dd>
        <dt>Last changed</dt>
        <dd>${when(view.updatedAt)}</dd>
      </dl>
      ${dataTable(
        'Per environment: migration and key state (the key itself is never shown)',
        ['Environment', 'Migration', 'Key', 'Issued', 'Prepared at the SML', 'First handed out', 'Revocations', 'Last revoked'],
        view.environments.map((e) => {
          const key = e.key.state === 'none' ? undefined : e.key;
          return [
            e.environment,
            migrationOf(e),
            keyOf(e),
            when(key?.issuedAt),
            when(key?.preparedAt),
            when(key?.firstHandedOutAt),
            e.key.revocations,
            when(key?.lastRevokedAt),
          ];
        }),
        'No environment.',
      )}
    </section>
    <section aria-labelledby="changes-h">
      <h2 id="changes-h">Changes</h2>
      <p class="hint">Each is written to the audit log with your name and reason, exactly as from the admin API.</p>
      <h3>Remove (HSMP-012 in every environment, kept over CBE imports until restored)</h3>
      ${change('remove', 'Remove the enterprise', { danger: true })}
      <h3>Mark migrated (HSMP-013)</h3>
      ${change('mark-migrated', 'Mark migrated', { perEnvironment: true })}
      <h3>Restore (hsmp's again; for every environment also active again)</h3>
      ${change('restore', 'Restore', { perEnvironment: true })}
      <h3>Revoke the key (a fresh key is prepared at the SML first)</h3>
      ${change('revoke-key', 'Revoke the key', { perEnvironment: true, danger: true })}
    </section>
    <section aria-labelledby="collections-h">
      <h2 id="collections-h">Recent collections</h2>
      ${dataTable(
        html`The ${view.recentCollections.length} most recent, newest first (<a href="${link(`/logs?log=collections&participant=${number}`)}"
            >all in the collection log</a
          >)`,
        ['When', 'Environment', 'Seat', 'From', 'Outcome', 'Request'],
        view.recentCollections.map((c) => [
          when(c.at as Date),
          c.environment as string,
          c.seatId as string,
          c.clientIp as string,
          c.outcome as string,
          c.requestId as string,
        ]),
        'No collection yet.',
      )}
    </section>`;
}
