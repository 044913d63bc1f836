import { ENVIRONMENTS } from '../domain/environment';
import { html, type Html } from './html';
import type { Flash } from './session-repository';

/** What every signed-in page knows of its request. */
export interface PageContext {
  operator: string;
  csrfToken: string;
  flash: Flash | null;
  /** The page's path below the console's mount point, to mark the current navigation entry. */
  path: string;
}

export const CONSOLE_PREFIX = '/console';
export const ASSET_VERSION = '1';

const NAVIGATION = [
  ['/', 'Overview'],
  ['/blocks', 'Blocks and allowances'],
  ['/enterprise', 'Enterprise'],
  ['/logs', 'Logs'],
  ['/data', 'Data and SML'],
] as const;

export const link = (path: string) => `${CONSOLE_PREFIX}${path}`;

function documentOf(title: string, body: Html, head: Html = html``): string {
  return `<!doctype html>\n${
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · hsmp console</title>
        <link rel="stylesheet" href="${link(`/assets/console.css?v=${ASSET_VERSION}`)}" />
        <link rel="icon" href="${link('/assets/icon.svg')}" type="image/svg+xml" />
        <script src="${link(`/assets/console.js?v=${ASSET_VERSION}`)}" defer></script>
        ${head}
      </head>
      ${body}
    </html>`.text
  }`;
}

export function signedInPage(ctx: PageContext, title: string, content: Html, options: { refreshSeconds?: number } = {}): string {
  const head = options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}" />` : html``;
  return documentOf(
    title,
    html`<body>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">hsmp console</span>
        <nav aria-label="Console">
          <ul>
            ${NAVIGATION.map(([path, label]) => html`<li><a href="${link(path)}" ${ctx.path === path ? html` aria-current="page"` : ''}>${label}</a></li>`)}
          </ul>
        </nav>
        <form class="sign-out" method="post" action="${link('/sign-out')}">
          ${csrfField(ctx)}
          <span>Signed in as <strong>${ctx.operator}</strong></span>
          <button type="submit">Sign out</button>
        </form>
      </header>
      <main id="main" tabindex="-1">
        <h1>${title}</h1>
        ${flashOf(ctx.flash)} ${content}
      </main>
    </body>`,
    head,
  );
}

export function signInPage(message?: string): string {
  return documentOf(
    'Sign in',
    html`<body>
      <main id="main" class="sign-in">
        <h1>hsmp console</h1>
        ${message ? html`<p class="flash error" role="alert">${message}</p>` : ''}
        <form method="post" action="${link('/sign-in')}">
          <label for="token">Operator token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required maxlength="512" autofocus />
          <button type="submit">Sign in</button>
        </form>
        <p class="hint">
          The same token as for the admin API and <code>hsmp-admin</code>. The session ends after 30 minutes without use, and 8 hours after signing in.
        </p>
      </main>
    </body>`,
  );
}

export function errorPage(status: number, message: string): string {
  return documentOf(
    `Error ${status}`,
    html`<body>
      <main id="main">
        <h1>Error ${status}</h1>
        <p role="alert">${message}</p>
        <p><a href="${link('/')}">Back to the console</a></p>
      </main>
    </body>`,
  );
}

function flashOf(flash: Flash | null): Html {
  if (!flash) return html``;
  return flash.kind === 'error' ? html`<p class="flash error" role="alert">${flash.text}</p>` : html`<p class="flash ok" role="status">${flash.text}</p>`;
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrfToken}" />`;
}

/** Every state change asks why; the reason goes to the audit log with the operator's name. */
export function reasonField(id: string): Html {
  return html`<label for="${id}">Reason (for the audit log)</label> <input id="${id}" name="reason" required maxlength="1000" autocomplete="off" />`;
}

/**
 * A choice of environment: `environments` (default: both), each shown as `label` says, and first,
 * with `any`, the empty choice that means all of them.
 */
export function environmentSelect(id: string, options: { environments?: readonly string[]; any?: string; label?: (environment: string) => string } = {}): Html {
  const { environments = ENVIRONMENTS, any, label = (environment: string) => environment } = options;
  return html`<label for="${id}">Environment</label>
    <select id="${id}" name="environment">
      ${any ? html`<option value="">${any}</option>` : ''} ${environments.map((e) => html`<option value="${e}">${label(e)}</option>`)}
    </select>`;
}

export function when(at: Date | string | null | undefined): Html {
  if (!at) return html`–`;
  const date = at instanceof Date ? at : new Date(at);
  return html`<time datetime="${date.toISOString()}">${formatBrussels(date)}</time>`;
}

const brusselsFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Brussels',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});

export function formatBrussels(date: Date): string {
  const parts = Object.fromEntries(brusselsFormat.formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}
