import type { OperatorService } from '../../operations';
import { html } from '../html';
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
      <table>
        <caption>
          Global lock
        </caption>
        <thead>
          <tr>
            <th scope="col">Since</th>
            <th scope="col">Why</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            blocks.global
              ? html`<tr>
                  <td>${when(blocks.global.blockedAt)}</td>
                  <td>${blocks.global.reason}</td>
                  <td>${reactivate({ kind: 'global' }, 'the global limit')}</td>
                </tr>`
              : html`<tr>
                  <td colspan="3">Not locked.</td>
                </tr>`
          }
        </tbody>
      </table>
      <table>
        <caption>
          Blacklisted users
        </caption>
        <thead>
          <tr>
            <th scope="col">Seat</th>
            <th scope="col">Environment</th>
            <th scope="col">Since</th>
            <th scope="col">Why</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            blocks.users.length === 0
              ? html`<tr>
                  <td colspan="5">None.</td>
                </tr>`
              : blocks.users.map(
                  (b) =>
                    html`<tr>
                      <td>${b.seatId}</td>
                      <td>${b.environment}</td>
                      <td>${when(b.blockedAt)}</td>
                      <td>${b.reason}</td>
                      <td>${reactivate({ kind: 'user', seatId: b.seatId, environment: b.environment }, `${b.seatId} (${b.environment})`)}</td>
                    </tr>`,
                )
          }
        </tbody>
      </table>
      <table>
        <caption>
          Blocked client addresses
        </caption>
        <thead>
          <tr>
            <th scope="col">Address</th>
            <th scope="col">Since</th>
            <th scope="col">Why</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            blocks.ips.length === 0
              ? html`<tr>
                  <td colspan="4">None.</td>
                </tr>`
              : blocks.ips.map(
                  (b) =>
                    html`<tr>
                      <td>${b.address}</td>
                      <td>${when(b.blockedAt)}</td>
                      <td>${b.reason}</td>
                      <td>${reactivate({ kind: 'ip', address: b.address }, b.address)}</td>
                    </tr>`,
                )
          }
        </tbody>
      </table>
    </section>
    <section aria-labelledby="allowances-h">
      <h2 id="allowances-h">Allowances in force or planned</h2>
      <table>
        <caption>
          Allowances raise a user's daily limit for planned bulk migrations
        </caption>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Seat</th>
            <th scope="col">Environment</th>
            <th scope="col">Daily limit</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">Granted by</th>
            <th scope="col">Why</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          ${
            allowances.length === 0
              ? html`<tr>
                  <td colspan="9">None.</td>
                </tr>`
              : allowances.map(
                  (a) =>
                    html`<tr>
                      <td>${a.id}</td>
                      <td>${a.seatId}</td>
                      <td>${a.environment}</td>
                      <td>${a.dailyLimit}</td>
                      <td>${when(a.validFrom)}</td>
                      <td>${when(a.validTo)}</td>
                      <td>${a.grantedBy}</td>
                      <td>${a.reason}</td>
                      <td>
                        <form method="post" action="${link(`/allowances/${a.id}/revoke`)}" class="inline" aria-label="Revoke allowance ${a.id}">
                          ${csrfField(ctx)}${reasonField(`revoke-reason-${a.id}`)}
                          <button type="submit">Revoke allowance ${a.id}</button>
                        </form>
                      </td>
                    </tr>`,
                )
          }
        </tbody>
      </table>
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
