import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { request } from 'undici';
import type { Dataset } from '../../src/participants/datasets';
import { withCheckDigits } from '../../src/participants/participant-id';
import { KeyCipher } from '../../src/store/key-cipher';
import { axeViolations, chromiumAvailable, launchChromium } from '../support/browser';
import { clientAgent, closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, TEST_OPERATOR, type TestService } from '../support/service';

/**
 * SPEC §4.1 in a real browser: the operator console signed into with the operator token, its
 * pages, its changes (audited as from the API), and what it refuses.
 */
const describeInBrowser = chromiumAvailable() ? describe : describe.skip;

let service: TestService;
let browser: Browser;
let data: Dataset;
/** Every body the console served to the browser, searched for migration keys at the end. */
const served: Array<{ url: string; body: string }> = [];
const problems: string[] = [];

const consoleUrl = (path = '/') => `${service.adminUrl}/console${path}`;

async function newPage(context?: BrowserContext): Promise<Page> {
  const page = await (context ?? (await browser.newContext())).newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (message) => {
    // Refused requests (401, 403) are logged by the browser too; a CSP breach is what counts here.
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(service.adminUrl)) problems.push(`outside resource: ${r.url()}`);
  });
  page.on('response', async (response) => {
    if (!response.url().startsWith(service.adminUrl)) return;
    const body = await response.text().catch(() => '');
    served.push({ url: response.url(), body });
  });
  return page;
}

/** Signs in with the keyboard only: the token field has the focus, Enter submits. */
async function signedIn(): Promise<Page> {
  const page = await newPage();
  await page.goto(consoleUrl('/'));
  expect(new URL(page.url()).pathname).toBe('/console/sign-in');
  // The token field takes the focus by itself (autofocus); the keyboard does the rest.
  await page.waitForFunction(() => (globalThis as any).document.activeElement?.id === 'token');
  await page.keyboard.type(service.operatorToken);
  await page.keyboard.press('Enter');
  await page.waitForURL(consoleUrl('/'));
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview');
  return page;
}

async function submitWithReason(page: Page, form: string, reason: string): Promise<string> {
  const scope = page.getByRole('form', { name: form });
  await scope.getByLabel('Reason (for the audit log)').fill(reason);
  await scope.getByRole('button').click();
  await page.waitForLoadState();
  return (await page.locator('.flash').textContent()) ?? '';
}

/** A job's page reloads itself while the job runs: its state once it ended. */
async function jobEnded(page: Page): Promise<string> {
  const state = page.locator('dl.facts strong').filter({ hasText: /^(succeeded|failed|abandoned)$/ });
  await state.waitFor({ timeout: 60_000 });
  const ended = (await state.textContent()) ?? '';
  if (ended !== 'succeeded') throw new Error(`job ${ended}: ${await page.locator('main').innerText()}`);
  return ended;
}

const codeOf = (body: string) => /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? (body.includes('<MigrationRecord>') ? '200' : body);
async function collect(number: string, certificate: 'ap-production' | 'ap-test' = 'ap-production'): Promise<string> {
  const environment = certificate === 'ap-test' ? '?environment=test' : '';
  const response = await request(`${service.publicUrl}/hermes-rw/migrationKey/${number}${environment}`, { dispatcher: clientAgent(certificate) });
  return codeOf(await response.body.text());
}

describeInBrowser('operator console', () => {
  beforeAll(async () => {
    service = await startTestService({ env: { HSMP_LIMIT_USER_DAILY: '3' } });
    data = await seed(service);
    browser = await launchChromium();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    await closeAgents();
  });

  it('exchanges the operator token for an HttpOnly, SameSite=Strict session; refuses a wrong token; signs out', async () => {
    const wrong = await newPage();
    await wrong.goto(consoleUrl('/sign-in'));
    await wrong.getByLabel('Operator token').fill('not-a-token');
    await wrong.getByRole('button', { name: 'Sign in' }).click();
    await expect(wrong.getByRole('alert').textContent()).resolves.toContain('belongs to no operator');
    expect(await wrong.context().cookies()).toEqual([]);

    const page = await signedIn();
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'hsmp_console', httpOnly: true, sameSite: 'Strict', path: '/console', secure: false });
    expect(cookie.expires).toBeGreaterThan(Date.now() / 1000);
    expect(page.getByText(`Signed in as ${TEST_OPERATOR}`)).toBeTruthy();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(consoleUrl('/sign-in'));
    // The session is gone on the server too: replaying the old cookie gets nothing.
    const replay = await request(consoleUrl('/'), { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    expect(replay.statusCode).toBe(303);
    expect(replay.headers.location).toBe('/console/sign-in');
    await replay.body.dump();
    const audit = (await service.admin('GET', `/admin/audit?operator=${TEST_OPERATOR}`)).json();
    expect(audit.entries.map((e: any) => e.action)).toEqual(expect.arrayContaining(['console-sign-in', 'console-sign-out']));
  });

  it('refuses a request without the session cookie, a cross-site POST, a forged form and an expired session', async () => {
    const page = await signedIn();
    const [cookie] = await page.context().cookies();
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const post = (headers: Record<string, string>, body: string) =>
      request(consoleUrl('/blocks/reactivate'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: service.adminUrl, ...headers },
        body,
      });
    const form = `_csrf=${csrf}&kind=global&reason=test`;

    const noCookie = await post({}, form);
    expect(noCookie.statusCode).toBe(401);
    await noCookie.body.dump();
    const noCookieGet = await request(consoleUrl('/blocks'));
    expect(noCookieGet.statusCode).toBe(303);
    expect(await noCookieGet.body.text()).not.toContain('Blacklisted users');

    const crossOrigin = await post({ cookie: `hsmp_console=${cookie.value}`, origin: 'http://evil.example' }, form);
    expect(crossOrigin.statusCode).toBe(403);
    await crossOrigin.body.dump();
    const forged = await post({ cookie: `hsmp_console=${cookie.value}` }, '_csrf=guessed&kind=global&reason=test');
    expect(forged.statusCode).toBe(403);
    await forged.body.dump();

    // A page of another origin on the same host (same site: SameSite lets the cookie through)
    // that posts a form to the console, even with the right token, is refused by its Origin.
    const attacker = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="post" action="${consoleUrl('/blocks/reactivate')}"><input name="_csrf" value="${csrf}"><input name="kind" value="global"><input name="reason" value="x"></form>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const evil = await page.context().newPage();
      await evil.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      const [answer] = await Promise.all([evil.waitForResponse(consoleUrl('/blocks/reactivate')), evil.locator('#f').evaluate((f: any) => f.submit())]);
      expect(answer.status()).toBe(403);
      await evil.close();
    } finally {
      attacker.close();
    }
    const audit = (await service.admin('GET', '/admin/audit')).json();
    expect(audit.entries.filter((e: any) => e.action === 'reactivate-global')).toEqual([]);

    await service.database.pool.query("UPDATE console_session SET expires_at = now() - interval '1 second'");
    await page.goto(consoleUrl('/blocks'));
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    const expired = await post({ cookie: `hsmp_console=${cookie.value}` }, form);
    expect(expired.statusCode).toBe(401);
    await expired.body.dump();
  });

  it('a blacklisted user shows on Overview and Blocks and is reactivated with a reason, audited as from the API', async () => {
    const number = data[1][0];
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await collect(number));
    expect(codes).toEqual(['200', '200', '200', 'HSMP-811']);

    const page = await signedIn();
    await expect(page.locator('section', { has: page.getByRole('heading', { name: 'Blocks in force' }) }).textContent()).resolves.toContain(
      'User PBE000001 (production)',
    );
    await page.getByRole('navigation').getByRole('link', { name: 'Blocks and allowances' }).click();
    await page.waitForURL(consoleUrl('/blocks'));
    const row = page.getByRole('row', { name: /PBE000001/ });
    await expect(row.textContent()).resolves.toContain('production');

    // An empty reason is refused by the browser and, were it sent, by the server.
    const flash = await submitWithReason(page, 'Reactivate PBE000001 (production)', 'ticket 4711: planned migration');
    expect(flash).toBe('Reactivated production:PBE000001.');
    expect((await service.admin('GET', '/admin/blocks')).json().users).toEqual([]);
    const audit = (await service.admin('GET', '/admin/audit')).json();
    expect(audit.entries.find((e: any) => e.action === 'reactivate-user')).toMatchObject({
      operator: TEST_OPERATOR,
      reason: 'ticket 4711: planned migration',
      target: 'production:PBE000001',
    });
    expect(await collect(number)).toBe('200');
  });

  it('asks for a reason: a change without one is refused and changes nothing', async () => {
    const page = await signedIn();
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const [cookie] = await page.context().cookies();
    const response = await request(consoleUrl('/allowances'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: service.adminUrl, cookie: `hsmp_console=${cookie.value}` },
      body: `_csrf=${csrf}&seatId=PBE000009&limit=50&from=2026-01-01&to=2026-01-02&reason=+`,
    });
    expect(response.statusCode).toBe(303);
    await response.body.dump();
    await page.goto(consoleUrl('/blocks'));
    await expect(page.getByRole('alert').textContent()).resolves.toContain('reason: say why');
    expect((await service.admin('GET', '/admin/allowances')).json().allowances).toEqual([]);
  });

  it('grants an allowance and revokes it, each with its reason', async () => {
    const page = await signedIn();
    await page.goto(consoleUrl('/blocks'));
    const grant = page.getByRole('form', { name: 'Grant an allowance' });
    await grant.getByLabel('Seat id').fill('PBE000002');
    await grant.getByLabel('Environment').selectOption('production');
    await grant.getByLabel('Daily limit').fill('5000');
    await grant.getByLabel('From day').fill('2026-12-01');
    await grant.getByLabel('Through day').fill('2026-12-31');
    await grant.getByLabel('Reason (for the audit log)').fill('bulk migration of customer X');
    await grant.getByRole('button', { name: 'Grant' }).click();
    await page.waitForLoadState();
    await expect(page.locator('.flash').textContent()).resolves.toMatch(/^Granted PBE000002 a daily limit of 5000 from 2026-12-01 through 2026-12-31/);
    const [allowance] = (await service.admin('GET', '/admin/allowances')).json().allowances;
    expect(allowance).toMatchObject({
      seatId: 'PBE000002',
      environment: 'production',
      dailyLimit: 5000,
      validFrom: '2026-11-30T23:00:00.000Z',
      validTo: '2026-12-31T23:00:00.000Z',
      grantedBy: TEST_OPERATOR,
      reason: 'bulk migration of customer X',
    });

    const flash = await submitWithReason(page, `Revoke allowance ${allowance.id}`, 'customer X postponed');
    expect(flash).toBe(`Revoked allowance ${allowance.id}.`);
    expect((await service.admin('GET', '/admin/allowances')).json().allowances).toEqual([]);
    const audit = (await service.admin('GET', '/admin/audit')).json();
    expect(audit.entries.find((e: any) => e.action === 'revoke-allowance')).toMatchObject({ operator: TEST_OPERATOR, reason: 'customer X postponed' });
  });

  it('looks an enterprise up in two spellings, marks it migrated in test only, restores it', async () => {
    const number = data[1][2];
    const dotted = `${number.slice(0, 4)}.${number.slice(4, 7)}.${number.slice(7)}`;
    const page = await signedIn();
    await page.getByRole('navigation').getByRole('link', { name: 'Enterprise' }).click();
    await page.waitForURL(consoleUrl('/enterprise'));
    const lookUp = async (spelling: string) => {
      await page.getByLabel('Enterprise number').fill(spelling);
      await page.getByLabel('Enterprise number').press('Enter');
      await page.waitForURL((url) => url.searchParams.get('number') === spelling);
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(`Enterprise ${dotted}`);
    };
    await lookUp(dotted);
    await lookUp(`BE${number}`);
    const environmentRow = (environment: string) => page.getByRole('row', { name: new RegExp(`^${environment} `) }).textContent();
    await expect(environmentRow('test')).resolves.toContain('not migrated');

    const mark = page.getByRole('form', { name: 'Mark migrated' });
    await mark.getByLabel('Environment').selectOption('test');
    await mark.getByLabel('Reason (for the audit log)').fill('ticket 5001: moved to another SMP in test');
    await mark.getByRole('button').click();
    await page.waitForLoadState();
    await expect(page.locator('.flash').textContent()).resolves.toBe(`Marked ${number} migrated in test.`);
    await expect(environmentRow('test')).resolves.toMatch(/test\s*migrated/);
    await expect(environmentRow('production')).resolves.toContain('not migrated');
    const view = (await service.admin('GET', `/admin/enterprises/${number}`)).json();
    expect(view.environments.find((e: any) => e.environment === 'test').migrated).toMatchObject({ by: expect.any(String) });
    expect(view.environments.find((e: any) => e.environment === 'production').migrated).toBeNull();
    expect(await collect(number, 'ap-test')).toBe('HSMP-013');

    const restore = page.getByRole('form', { name: 'Restore' });
    await restore.getByLabel('Environment').selectOption('test');
    await restore.getByLabel('Reason (for the audit log)').fill('ticket 5001: marked by mistake');
    await restore.getByRole('button').click();
    await page.waitForLoadState();
    await expect(page.locator('.flash').textContent()).resolves.toBe(`Restored ${number} in test.`);
    await expect(environmentRow('test')).resolves.toContain('not migrated');
    const audit = (await service.admin('GET', `/admin/audit?operator=${TEST_OPERATOR}`)).json();
    expect(audit.entries.find((e: any) => e.action === 'enterprise-mark-migrated')).toMatchObject({
      target: number,
      reason: 'ticket 5001: moved to another SMP in test',
      details: { environments: ['test'] },
    });
    expect(audit.entries.find((e: any) => e.action === 'enterprise-restore')).toMatchObject({ target: number, reason: 'ticket 5001: marked by mistake' });

    // A number that is no enterprise's, and one that is no number: the answer beside the form.
    await page.getByLabel('Enterprise number').fill('0999.999.999');
    await page.getByLabel('Enterprise number').press('Enter');
    await page.waitForLoadState();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/not a valid enterprise number|does not hold/);
  });

  it('revokes a key from the Enterprise page: the key state shows the revocation', async () => {
    const number = data[1][3];
    expect(await collect(number, 'ap-test')).toBe('200');
    const page = await signedIn();
    await page.goto(consoleUrl(`/enterprise?number=${number}`));
    const testRow = page.getByRole('row', { name: /^test / });
    await expect(testRow.locator('td').nth(6).textContent()).resolves.toBe('0');
    const revoke = page.getByRole('form', { name: 'Revoke the key' });
    await revoke.getByLabel('Environment').selectOption('test');
    await revoke.getByLabel('Reason (for the audit log)').fill('key leaked in a support ticket');
    await revoke.getByRole('button').click();
    await page.waitForLoadState();
    await expect(page.locator('.flash').textContent()).resolves.toBe(`Revoked the key of ${number} in test; a fresh key is prepared.`);
    await expect(testRow.locator('td').nth(2).textContent()).resolves.toBe('prepared');
    await expect(testRow.locator('td').nth(6).textContent()).resolves.toBe('1');
    await expect(testRow.locator('td').nth(7).textContent()).resolves.not.toBe('–');
    const audit = (await service.admin('GET', `/admin/audit?operator=${TEST_OPERATOR}`)).json();
    expect(audit.entries.find((e: any) => e.action === 'key-revoke' && e.target === `${number}/test`)).toMatchObject({
      reason: 'key leaked in a support ticket',
    });
  });

  it('filters the collection log, pages it by its cursor, and downloads the CSV of exactly what is filtered', async () => {
    // The test certificate's seat gets room for this test's collections (the daily limit is 3).
    const now = Date.now();
    const granted = await service.admin('POST', '/admin/allowances', {
      seatId: 'PBE000002',
      environment: 'test',
      limit: 100,
      from: new Date(now - 3600_000).toISOString(),
      to: new Date(now + 86_400_000).toISOString(),
      reason: 'logs test',
    });
    expect(granted.status).toBe(201);
    const number = data[1][6];
    expect([await collect(number, 'ap-test'), await collect(data[3][0], 'ap-test'), await collect(number, 'ap-test')]).toEqual(['200', 'HSMP-012', '200']);

    const page = await signedIn();
    await page.getByRole('navigation').getByRole('link', { name: 'Logs' }).click();
    await page.waitForURL(consoleUrl('/logs'));
    const filter = page.getByRole('form', { name: 'Filter the log' });
    await filter.getByLabel('Participant').fill(`BE${number}`);
    await filter.getByLabel('Seat id').fill('PBE000002');
    await filter.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((url) => url.searchParams.get('participant') === `BE${number}`);
    const rows = page.locator('table tbody tr');
    await expect(rows.count()).resolves.toBe(2);
    for (const row of await rows.all()) await expect(row.textContent()).resolves.toMatch(new RegExp(`PBE000002.*${number}.*200`));

    // Paging by the cursor, a row a page: the older one, then no further page.
    await page.goto(`${page.url()}&limit=1`);
    await expect(rows.count()).resolves.toBe(1);
    const newest = await rows.first().locator('td').first().textContent();
    await page.getByRole('link', { name: 'Older entries' }).click();
    await page.waitForURL((url) => url.searchParams.has('before'));
    await expect(rows.count()).resolves.toBe(1);
    const older = Number(await rows.first().locator('td').first().textContent());
    expect(older).toBeLessThan(Number(newest));
    // A full page always has a cursor (as in the API): the next one is empty, and the end.
    await page.getByRole('link', { name: 'Older entries' }).click();
    await page.waitForURL((url) => url.searchParams.get('before') === String(older));
    await expect(rows.innerText()).resolves.toBe('No entry matches.');
    await expect(page.getByRole('link', { name: 'Older entries' }).count()).resolves.toBe(0);
    await page.getByRole('link', { name: 'Newest entries' }).click();
    await page.waitForURL((url) => !url.searchParams.has('before'));

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /Download the filtered collection log as CSV/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('hsmp-collections-log.csv');
    const { readFile } = await import('node:fs/promises');
    const lines = (await readFile(await download.path(), 'utf8')).trimEnd().split('\r\n');
    const [header, ...entries] = lines.map((line) => line.split(','));
    expect(header).toEqual([
      'id',
      'collected_at',
      'environment',
      'seat_id',
      'client_ip',
      'participant',
      'enterprise_number',
      'outcome',
      'request_id',
      'certificate_fingerprint',
    ]);
    expect(entries).toHaveLength(2);
    const column = (name: string) => entries.map((entry) => entry[header.indexOf(name)]);
    expect(column('enterprise_number')).toEqual([number, number]);
    expect(column('outcome')).toEqual(['200', '200']);
    expect(column('seat_id')).toEqual(['PBE000002', 'PBE000002']);
    expect(column('environment')).toEqual(['test', 'test']);
    expect(column('id').map(Number)).toEqual([Number(newest), older]);
    // The same filter through the admin API: the same rows.
    const api = (await service.admin('GET', `/admin/collections?participant=BE${number}&seatId=PBE000002`)).json();
    expect(api.entries.map((e: any) => String(e.id))).toEqual(column('id'));

    // The audit log by operator; a filter the API refuses is shown as its problem, not a 500.
    await page.goto(consoleUrl(`/logs?log=audit&operator=${TEST_OPERATOR}`));
    await expect(page.locator('table tbody').textContent()).resolves.toContain('console-sign-in');
    const bad = await page.goto(consoleUrl('/logs?log=collections&day=2026-02-30'));
    expect(bad?.status()).toBe(400);
    await expect(page.getByRole('alert').textContent()).resolves.toContain('day: not a day of the calendar');
    const badCsv = await page.request.get(consoleUrl('/logs.csv?log=collections&day=2026-02-30'));
    expect(badCsv.status()).toBe(400);
  });

  it('uploads a CBE dump with its progress and watches the import job finish', async () => {
    const numbers = Array.from({ length: 50 }, (_, i) => withCheckDigits(String(2050000 + i).padStart(8, '0')));
    const dotted = (n: string) => `${n.slice(0, 4)}.${n.slice(4, 7)}.${n.slice(7)}`;
    const dump = [
      '"EnterpriseNumber","Status","JuridicalSituation","TypeOfEnterprise","JuridicalForm","JuridicalFormCAC","StartDate"',
      ...numbers.map((n) => `"${dotted(n)}","AC","000","2","014","","09-08-1960"`),
    ].join('\r\n');
    const page = await signedIn();
    await page.getByRole('navigation').getByRole('link', { name: 'Data and SML' }).click();
    await page.waitForURL(consoleUrl('/data'));
    const form = page.getByRole('form', { name: 'Import a CBE dump' });
    await form.getByLabel("The CBE open-data dump's enterprise.csv").setInputFiles({ name: 'enterprise.csv', mimeType: 'text/csv', buffer: Buffer.from(dump) });
    await form.getByLabel('Reason (for the audit log)').fill('CBE dump of December');
    await form.getByRole('button', { name: 'Upload and import' }).click();
    // The script sends the file and then shows the job's page, which reloads until the job ends.
    await page.waitForURL(/\/console\/data\/jobs\/\d+$/, { timeout: 60_000 });
    await expect(page.locator('.flash').textContent()).resolves.toMatch(/^Received the CBE dump; importing it as job \d+\.$/);
    await expect(jobEnded(page)).resolves.toBe('succeeded');
    await expect(page.getByRole('status').last().textContent()).resolves.toBe('50 rows: added 50, reactivated 0, deactivated 0, unchanged 0');
    const id = /\/jobs\/(\d+)$/.exec(page.url())?.[1];
    expect((await service.admin('GET', `/admin/jobs/${id}`)).json()).toMatchObject({
      kind: 'import-kbo',
      state: 'succeeded',
      operator: TEST_OPERATOR,
      reason: 'CBE dump of December',
    });
    expect((await service.admin('GET', `/admin/enterprises/${numbers[7]}`)).json()).toMatchObject({ status: 'active', testData: false });
    await page.getByRole('link', { name: 'Back to Data and SML' }).click();
    await expect(page.getByRole('row', { name: new RegExp(`Job ${id} `) }).textContent()).resolves.toContain('CBE import');
  }, 180_000);

  it('previews a reconciliation (counts, nothing changed), then runs it from the preview; prepares keys in bulk', async () => {
    const page = await signedIn();
    await page.goto(consoleUrl('/data'));
    const before = (await service.admin('GET', '/admin/audit?limit=1000')).json().entries.filter((e: any) => e.action.startsWith('sml-reconcile')).length;
    const preview = page.getByRole('form', { name: 'Preview a reconciliation' });
    await preview.getByLabel('Environment').selectOption('test');
    await preview.getByLabel('Reason (for the audit log)').fill('monthly check');
    await preview.getByRole('button', { name: 'Preview the counts' }).click();
    await page.waitForURL(/\/console\/data\/jobs\/\d+$/);
    await expect(jobEnded(page)).resolves.toBe('succeeded');
    const counts = page.getByRole('table', { name: /What a reconciliation would do now/ });
    const row = await counts
      .getByRole('row', { name: /^test / })
      .locator('td')
      .allTextContents();
    const previewJob = (await service.admin('GET', `/admin/jobs/${/\/jobs\/(\d+)$/.exec(page.url())?.[1]}`)).json();
    const [counted] = previewJob.result.previews;
    expect(previewJob.input).toMatchObject({ dryRun: true, environments: ['test'] });
    expect(row.slice(0, 6)).toEqual([
      'test',
      String(counted.listed),
      String(counted.pages),
      String(counted.prepared),
      String(counted.missing),
      String(counted.wouldMark),
    ]);
    expect(counted.prepared).toBeGreaterThan(0);
    const afterPreview = (await service.admin('GET', '/admin/audit?limit=1000')).json().entries.filter((e: any) => e.action.startsWith('sml-reconcile')).length;
    expect(afterPreview).toBe(before);

    const confirm = page.getByRole('form', { name: 'Run it' });
    await confirm.getByLabel('Reason (for the audit log)').fill('monthly check, confirmed');
    await confirm.getByRole('button', { name: 'Reconcile test' }).click();
    await page.waitForURL((url) => /\/data\/jobs\/\d+$/.test(url.pathname) && !url.pathname.endsWith(`/${previewJob.id}`));
    await expect(jobEnded(page)).resolves.toBe('succeeded');
    await expect(page.getByRole('status').last().textContent()).resolves.toMatch(/^test: \d+ of \d+ prepared keys no longer listed, \d+ marked migrated$/);
    const audit = (await service.admin('GET', '/admin/audit?limit=1000')).json();
    expect(audit.entries.find((e: any) => e.action === 'sml-reconcile')).toMatchObject({
      operator: TEST_OPERATOR,
      target: 'test',
      reason: 'monthly check, confirmed',
    });

    await page.goto(consoleUrl('/data'));
    const prepare = page.getByRole('form', { name: 'Prepare keys in bulk' });
    await prepare.getByLabel('Environment').selectOption('production');
    await prepare.getByLabel('SML calls per second').fill('1000');
    await prepare.getByLabel('Reason (for the audit log)').fill('keys before the go-live');
    await prepare.getByRole('button', { name: 'Start the preparation' }).click();
    await page.waitForURL(/\/console\/data\/jobs\/\d+$/);
    await expect(jobEnded(page)).resolves.toBe('succeeded');
    await expect(page.getByRole('status').last().textContent()).resolves.toMatch(/^production: \d+ prepared, 0 not this SMP's, in [\d.]+ s$/);
  }, 180_000);

  it('Overview shows the jobs running', async () => {
    // A job held running: an import whose upload has begun and not ended (the slot is claimed first).
    const page = await signedIn();
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const upload = http.request(consoleUrl('/data/import?reason=held+open'), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', origin: service.adminUrl, 'x-csrf-token': csrf, cookie, 'transfer-encoding': 'chunked' },
    });
    upload.on('error', () => undefined);
    upload.write('"EnterpriseNumber","Status"');
    try {
      await page.waitForFunction(async () => (await (await fetch('/console/')).text()).includes('receiving the dump'), undefined, {
        timeout: 30_000,
        polling: 500,
      });
      await page.goto(consoleUrl('/'));
      const running = page.locator('section', { has: page.getByRole('heading', { name: 'Jobs running' }) });
      await expect(running.textContent()).resolves.toMatch(/Job \d+\s*CBE import\s*running\s*tester/);
    } finally {
      upload.destroy();
    }
    await page.waitForFunction(async () => (await (await fetch('/console/')).text()).includes('None running.'), undefined, { timeout: 30_000, polling: 500 });
  }, 180_000);

  it('every page: no serious accessibility violation (axe-core), nothing from elsewhere, no CSP breach', async () => {
    const page = await signedIn();
    const lastJob = (await service.admin('GET', '/admin/jobs?limit=1')).json().jobs[0].id;
    for (const path of [
      '/',
      '/blocks',
      '/enterprise',
      `/enterprise?number=${data[1][3]}`,
      '/logs',
      `/logs?log=audit&operator=${TEST_OPERATOR}`,
      '/data',
      `/data/jobs/${lastJob}`,
    ]) {
      await page.goto(consoleUrl(path));
      const response = await request(consoleUrl(path), { headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') } });
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(response.headers['content-security-policy']).toContain("script-src 'self'");
      await response.body.dump();
      const violations = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
      expect({ path, violations }).toEqual({ path, violations: [] });
    }
    const signIn = await newPage();
    await signIn.goto(consoleUrl('/sign-in'));
    expect((await axeViolations(signIn)).filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('every change the console offers refuses no cookie, another origin, a forged token and an expired session, changing nothing', async () => {
    const number = data[1][4];
    // Every POST the console has (the dump upload carries its token in a header: no forms).
    const changes = [
      '/blocks/reactivate',
      '/allowances',
      '/allowances/1/revoke',
      `/enterprise/${number}/remove`,
      `/enterprise/${number}/mark-migrated`,
      `/enterprise/${number}/restore`,
      `/enterprise/${number}/revoke-key`,
      '/data/reconcile/preview',
      '/data/reconcile',
      '/data/prepare',
    ];
    const pattern = (path: string) => new RegExp(`^${path.replace(number, '\\d{10}').replace(/\/1\//, '/\\d+/')}$`);
    // Every form the browser was served posts to one of them (or signs out/in).
    const actions = new Set(served.flatMap(({ body }) => [...body.matchAll(/<form method="post" action="\/console([^"?]+)/g)].map((m) => m[1])));
    for (const action of actions) {
      if (action === '/sign-out' || action === '/sign-in') continue;
      expect({ action, offered: changes.some((c) => pattern(c).test(action)) }).toEqual({ action, offered: true });
    }
    const page = await signedIn();
    const [cookie] = await page.context().cookies();
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const auditBefore = (await service.admin('GET', '/admin/audit?limit=1000')).json().entries.length;
    const post = async (path: string, headers: Record<string, string>, body: string) => {
      const response = await request(consoleUrl(path), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: service.adminUrl, ...headers },
        body,
      });
      await response.body.dump();
      return response.statusCode;
    };
    const form = `_csrf=${csrf}&kind=global&environment=test&seatId=X&limit=5&from=2026-12-01&to=2026-12-02&reason=test`;
    const withCookie = { cookie: `hsmp_console=${cookie.value}` };
    for (const path of changes) {
      expect({ path, noCookie: await post(path, {}, form) }).toEqual({ path, noCookie: 401 });
      expect({ path, crossOrigin: await post(path, { ...withCookie, origin: 'http://evil.example' }, form) }).toEqual({ path, crossOrigin: 403 });
      expect({ path, forged: await post(path, withCookie, form.replace(csrf, 'guessed')) }).toEqual({ path, forged: 403 });
    }
    await service.database.pool.query("UPDATE console_session SET expires_at = now() - interval '1 second' WHERE id_sha256 = $1", [
      createHash('sha256').update(cookie.value).digest(),
    ]);
    for (const path of changes) expect({ path, expired: await post(path, withCookie, form) }).toEqual({ path, expired: 401 });
    const upload = await request(consoleUrl('/data/import?reason=test'), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', origin: service.adminUrl, 'x-csrf-token': csrf },
      body: 'EnterpriseNumber\n',
    });
    expect(upload.statusCode).toBe(401);
    await upload.body.dump();
    expect((await service.admin('GET', '/admin/audit?limit=1000')).json().entries.length).toBe(auditBefore);
  });

  it('never served a migration key: every key in the database is searched for in every body the browser got', async () => {
    const cipher = new KeyCipher(Buffer.from(service.env.HSMP_KEY_ENCRYPTION_KEY, 'hex'));
    const { rows } = await service.database.pool.query<{ enterprise_number: string; environment: string; key_ciphertext: Buffer }>(
      'SELECT enterprise_number, environment, key_ciphertext FROM migration_key',
    );
    const keys = rows.map((r) => cipher.decrypt(r.key_ciphertext, `${r.enterprise_number}/${r.environment}`));
    expect(keys.length).toBeGreaterThan(0);
    expect(served.length).toBeGreaterThan(10);
    for (const { url, body } of served) for (const key of keys) expect({ url, hasKey: body.includes(key) }).toEqual({ url, hasKey: false });
  });
});
