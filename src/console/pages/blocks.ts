import type { OperatorService } from '../../operations';
import { dataTable, html } from '../html';
import { csrfField, environmentSelect, link, reasonField, signedInPage, when, type PageContext } from '../layout';

/** Blocks and allowances (SPEC §4.1): list, reactivate, grant, revoke; each change asks why. */
export async function blocksPage(ctx: PageContext, operations: OperatorService): Promise<string> {
  const [blocks, { allowances }] = await Promise.all([operations.blocks(), operations.allowances()]);
  let form = 0;
  const reactivate = (fields: Record<string, string>, what: string) => {
    form++;
    return html`<form method="post" action="${link('/blocks/reactivate')}" class="inline" aria-label="Reactivate ${what}">
      ${csrfField(ctx)}${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`)}
      ${reasonField(`reactivate-reason-${form}`)}
      <button type="submit">Reactivate ${what}</button>
    </form>`;
  };
  const content = html` <section aria-labelledby="blocks-h">
      <h2 id="blocks-h">Blocks in force</h2>
      ${dataTable(
        'Global lock',
        ['Since', 'Why', 'Action'],
        blocks.global ? [[when(blocks.global.blockedAt), blocks.global.reason, reactivate({ kind: 'global' }, 'the global limit')]] : [],
        'Not locked.',
      )}
      ${dataTable(
        'Blacklisted users',
        ['Seat', 'Environment', 'Since', 'Why', 'Action'],
        blocks.users.map((b) => [
          b.seatId,
          b.environment,
          when(b.blockedAt),
          b.reason,
          reactivate({ kind: 'user', seatId: b.seatId, environment: b.environment }, `${b.seatId} (${b.environment})`),
        ]),
        'None.',
      )}
      ${dataTable(
        'Blocked client addresses',
        ['Address', 'Since', 'Why', 'Action'],
        blocks.ips.map((b) => [b.address, when(b.blockedAt), b.reason, reactivate({ kind: 'ip', address: b.address }, b.address)]),
        'None.',
      )}
    </section>
    <section aria-labelledby="allowances-h">
      <h2 id="allowances-h">Allowances in force or planned</h2>
      ${dataTable(
        "Allowances raise a user's daily limit for planned bulk migrations",
        ['Id', 'Seat', 'Environment', 'Daily limit', 'From', 'To', 'Granted by', 'Why', 'Action'],
        allowances.map((a) => [
          a.id,
          a.seatId,
          a.environment,
          a.dailyLimit,
          when(a.validFrom),
          when(a.validTo),
          a.grantedBy,
          a.reason,
          html`<form method="post" action="${link(`/allowances/${a.id}/revoke`)}" class="inline" aria-label="Revoke allowance ${a.id}">
            ${csrfField(ctx)}${reasonField(`revoke-reason-${a.id}`)}
            <button type="submit">Revoke allowance ${a.id}</button>
          </form>`,
        ]),
        'None.',
      )}
      <h3 id="grant-h">Grant an allowance</h3>
      <form method="post" action="${link('/allowances')}" aria-labelledby="grant-h" class="stacked">
        ${csrfField(ctx)}
        <p>
          <label for="grant-seat">Seat id (the access point's certificate subject)</label>
          <input id="grant-seat" name="seatId" required maxlength="128" autocomplete="off" />
        </p>
        <p>${environmentSelect('grant-environment', { any: 'both environments' })}</p>
        <p><label for="grant-limit">Daily limit</label> <input id="grant-limit" name="limit" type="number" min="1" max="2147483647" required /></p>
        <p><label for="grant-from">From day (Brussels, inclusive)</label> <input id="grant-from" name="from" type="date" required /></p>
        <p><label for="grant-to">Through day (Brussels, inclusive)</label> <input id="grant-to" name="to" type="date" required /></p>
        <p>${reasonField('grant-reason')}</p>
        <p><button type="submit">Grant</button></p>
      </form>
    </section>`;
  return signedInPage(ctx, 'Blocks and allowances', content);
}
