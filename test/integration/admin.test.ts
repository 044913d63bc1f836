import { request } from 'undici';
import type { Dataset } from '../../src/participants/datasets';
import { hsmpAdmin } from '../support/cli';
import { closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';

/** SPEC §4: the operators' listener, its tokens, its audit log, and the CLI that drives it. */
let service: TestService;
let data: Dataset;
const codeOf = (body: string) => /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? (body.includes('<MigrationRecord>') ? '200' : body);
const collect = async (number: string) => codeOf((await service.get(`/hermes-rw/migrationKey/${number}`)).body);

beforeAll(async () => {
  service = await startTestService();
  data = await seed(service);
});
afterAll(async () => {
  await service?.stop();
  await closeAgents();
});

describe('operator authentication', () => {
  it('refuses a missing, a wrong and a malformed token with 401', async () => {
    for (const token of ['', 'wrong-token', 'x'.repeat(600), service.operatorToken.slice(1)]) {
      const response = await service.admin('GET', '/admin/blocks', undefined, token);
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toContain('application/problem+json');
    }
    const withoutScheme = await request(`${service.adminUrl}/admin/blocks`, { headers: { authorization: service.operatorToken } });
    expect(withoutScheme.statusCode).toBe(401);
    await withoutScheme.body.dump();
    expect((await service.admin('GET', '/admin/blocks')).status).toBe(200);
  });

  it('with no operators configured, refuses everyone', async () => {
    const closed = await startTestService({ env: { HSMP_ADMIN_TOKENS: '' } });
    try {
      expect((await closed.admin('GET', '/admin/blocks')).status).toBe(401);
    } finally {
      await closed.stop();
    }
  });

  it('the CLI says why it failed, in one line, and exits 1', async () => {
    const wrong = await hsmpAdmin(service, ['blacklist'], 'wrong-token');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('hsmp-admin: a valid operator bearer token is required (HTTP 401)\n');
    const bad = await hsmpAdmin(service, ['remove', '123']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^hsmp-admin: not a valid enterprise number: 123 \(HTTP 400\)\n$/);
  });

  it('health, readiness and metrics are served without a token, and only on the admin listener', async () => {
    const get = async (path: string) => {
      const r = await request(service.adminUrl + path);
      return { status: r.statusCode, body: await r.body.text() };
    };
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'ready', database: 'ok' });
    await collect(data[1][0]);
    await collect(data[1][0]); // the same certificate again: its analysis comes from the cache
    const metrics = await get('/metrics');
    expect(metrics.body).toMatch(/hsmp_migration_key_requests_total\{code="200"\} \d+/);
    expect(metrics.body).toContain('hsmp_blocks_in_force');
    expect(metrics.body).toMatch(/hsmp_certificate_cache_total\{result="miss"\} [1-9]/);
    expect(metrics.body).toMatch(/hsmp_certificate_cache_total\{result="hit"\} [1-9]/);
  });
});

describe('enterprise operations', () => {
  it('remove → 012, mark-migrated → 013, restore → 200, each audited with its reason', async () => {
    const number = data[5][3];
    expect(await collect(number)).toBe('200');
    expect(await hsmpAdmin(service, ['remove', number, '--reason', 'ticket 1'])).toMatchObject({
      code: 0,
      stdout: `enterprise ${number} removed (HSMP-012): was active; now inactive\n`,
    });
    expect(await collect(number)).toBe('HSMP-012');
    // Deactivation is the enterprise's and answers first: marked migrated too, it stays 012.
    expect(await hsmpAdmin(service, ['mark-migrated', `BE${number}`])).toMatchObject({
      code: 0,
      stdout: `enterprise ${number} marked migrated (HSMP-013) in test, production: was inactive; now inactive, migrated in production, test\n`,
    });
    expect(await collect(number)).toBe('HSMP-012');
    expect((await hsmpAdmin(service, ['restore', number])).code).toBe(0);
    expect(await collect(number)).toBe('200');
    expect((await hsmpAdmin(service, ['mark-migrated', number])).code).toBe(0);
    expect(await collect(number)).toBe('HSMP-013');
    expect((await hsmpAdmin(service, ['restore', number])).code).toBe(0);
    expect(await collect(number)).toBe('200');
    const audit = (await service.admin('GET', '/admin/audit?operator=tester&limit=3')).json();
    expect(audit.entries.map((e: { action: string }) => e.action)).toEqual(['enterprise-restore', 'enterprise-mark-migrated', 'enterprise-restore']);
    const removal = (await service.admin('GET', `/admin/audit?operator=tester&limit=20`)).json().entries.find((e: any) => e.action === 'enterprise-remove');
    expect(removal).toMatchObject({ target: number, reason: 'ticket 1', operator: 'tester' });
  });

  it('an unknown enterprise → 404, nothing audited', async () => {
    const before = (await service.admin('GET', '/admin/audit')).json().entries.length;
    const result = await hsmpAdmin(service, ['remove', data[4][0].slice(0, 8) + '97']);
    expect(result.code).toBe(1);
    expect((await service.admin('GET', '/admin/audit')).json().entries.length).toBe(before);
  });

  it('seed prints the numbers by type, and --json returns them', async () => {
    const human = await hsmpAdmin(service, ['seed', '--datasets', '2']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('dataset 2');
    expect(human.stdout).toMatch(/type 2 \(migrated: HSMP-013\): \d{10}/);
    const json = JSON.parse((await hsmpAdmin(service, ['--json', 'seed'])).stdout);
    expect(json.datasets[0].types['1']).toEqual(data[1]);
  });

  it('the collection log can be read by user, participant and day', async () => {
    await collect(data[1][4]);
    const log = (await service.admin('GET', `/admin/collections?participant=${data[1][4]}&seatId=PBE000001`)).json();
    expect(log.entries[0]).toMatchObject({ enterprise_number: data[1][4], seat_id: 'PBE000001', outcome: '200' });
    const none = (await service.admin('GET', `/admin/collections?participant=${data[1][4]}&day=2001-01-01`)).json();
    expect(none.entries).toEqual([]);
    expect((await service.admin('GET', '/admin/collections?day=yesterday')).status).toBe(400);
  });

  // Seven runs of the real CLI binary: more than the default minute on a busy machine.
  it('hsmp-admin collections and audit read the logs, filtered and a page at a time', async () => {
    await collect(data[1][5]);
    await collect(data[1][5]);
    const page = await hsmpAdmin(service, ['collections', '--participant', data[1][5], '--seat', 'PBE000001', '--limit', '1']);
    expect(page.code).toBe(0);
    const [line, more] = page.stdout.trimEnd().split('\n');
    expect(line).toMatch(
      new RegExp(`^\\S+ PBE000001 \\[test\\] 127\\.0\\.0\\.1 0208:${data[1][5]} -> 200 \\(request [0-9a-f-]{36}, certificate [0-9a-f]{64}\\)$`, 'i'),
    );
    const next = /^more: --before (\d+)$/.exec(more)?.[1];
    expect(next).toBeDefined();
    const second = JSON.parse(
      (await hsmpAdmin(service, ['--json', 'collections', '--participant', data[1][5], '--limit', '1', '--before', String(next)])).stdout,
    );
    expect(second.entries).toEqual([expect.objectContaining({ enterprise_number: data[1][5], outcome: '200' })]);
    expect(Number(second.entries[0].id)).toBeLessThan(Number(next));
    expect((await hsmpAdmin(service, ['collections', '--participant', data[1][5], '--day', '2001-01-01'])).stdout).toBe('no entries\n');

    expect((await hsmpAdmin(service, ['remove', data[1][7], '--reason', 'audit via the CLI'])).code).toBe(0);
    const audit = await hsmpAdmin(service, ['audit', '--operator', 'tester', '--limit', '1']);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(new RegExp(`^\\S+ tester enterprise-remove ${data[1][7]}: audit via the CLI`));
    const refused = await hsmpAdmin(service, ['audit', '--day', '2026-13-01']);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/^hsmp-admin: .*day: not a day of the calendar.* \(HTTP 400\)\n$/);
  }, 180_000);

  it('a reactivation that finds no block changes nothing: no audit row, the count kept, exit 1', async () => {
    await collect(data[1][8]);
    const count = async () =>
      (await service.admin('GET', '/admin/usage'))
        .json()
        .users.find((u: { seatId: string; environment: string }) => u.seatId === 'PBE000001' && u.environment === 'production')?.count as number;
    const newestAudit = async () => (await service.admin('GET', '/admin/audit?limit=1')).json().entries[0]?.id as string;
    const [countBefore, auditBefore] = [await count(), await newestAudit()];
    expect(countBefore).toBeGreaterThan(0);
    const result = await hsmpAdmin(service, ['reactivate', 'user', 'PBE000001', '--reason', 'nothing to lift']);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toMatch(/^hsmp-admin: no block in force for .*PBE000001.* \(HTTP 404\)\n$/);
    expect(await newestAudit()).toBe(auditBefore);
    expect(await count()).toBe(countBefore);
  });

  it('usage reports today per user, per IP and globally', async () => {
    const usage = await hsmpAdmin(service, ['usage']);
    expect(usage.code).toBe(0);
    expect(usage.stdout).toMatch(/usage on \d{4}-\d{2}-\d{2}: \d+ of 100000 globally/);
    expect(usage.stdout).toContain('user PBE000001 [production]');
    expect(usage.stdout).toContain('ip 127.0.0.1');
  });

  it('bad input changes nothing and says why', async () => {
    const oversized = await service.admin('POST', '/admin/seed', { datasets: 1, reason: 'x'.repeat(70_000) });
    expect(oversized.status).toBe(413);
    expect((await service.admin('POST', '/admin/allowances', { seatId: 'P', limit: 5, from: '2027-01-02T00:00:00Z', to: '2027-01-01T00:00:00Z' })).status).toBe(
      400,
    );
    expect((await service.admin('POST', '/admin/blocks/reactivate', { kind: 'planet' })).status).toBe(400);
    const grant = await hsmpAdmin(service, ['allowance', 'grant', 'P', '--limit', 'many', '--from', 'x', '--to', 'y']);
    expect(grant.code).toBe(1);
  });

  it.each([
    ['GET', '/admin/usage?day=9999-99-99', undefined, /day: not a day of the calendar/],
    ['GET', '/admin/usage?day=2026-02-31', undefined, /day: not a day of the calendar/],
    ['GET', '/admin/audit?day=2026-13-01', undefined, /day: not a day of the calendar/],
    ['GET', '/admin/collections?before=99999999999999999999', undefined, /before: /],
    ['POST', '/admin/allowances', { seatId: 'P', limit: 99_999_999_999, from: '2027-01-01T00:00:00Z', to: '2027-01-02T00:00:00Z' }, /limit: /],
    // PostgreSQL text cannot hold NUL: a filter with one is bad input, not a failed query.
    ['GET', '/admin/collections?participant=%00', undefined, /participant: .*NUL/],
    ['GET', '/admin/collections?seatId=PBE%00', undefined, /seatId: .*NUL/],
    ['GET', '/admin/audit?operator=%00', undefined, /operator: .*NUL/],
    ['POST', '/admin/blocks/reactivate', { kind: 'user', seatId: 'P\u0000' }, /seatId: .*NUL/],
    ['POST', '/admin/blocks/reactivate', { kind: 'ip', address: '127.0.0.1\u0000' }, /address: .*NUL/],
    ['POST', '/admin/seed', { datasets: 1, reason: 'because\u0000' }, /reason: .*NUL/],
  ])('%s %s → 400 with a clear problem, never a 500', async (method, path, body, detail) => {
    const before = (await service.admin('GET', '/admin/audit')).json().entries.length;
    const response = await service.admin(method, path, body);
    expect(response.status).toBe(400);
    expect(response.json().detail).toMatch(detail);
    expect((await service.admin('GET', '/admin/audit')).json().entries.length).toBe(before);
  });

  it('an enterprise marked migrated and then restored gets a new key, not its spent one', async () => {
    const number = data[5][6];
    const key = async () => /<MigrationKey>([^<]+)<\/MigrationKey>/.exec((await service.get(`/hermes-rw/migrationKey/${number}`)).body)?.[1];
    const spent = await key();
    expect(spent).toBeDefined();
    expect((await hsmpAdmin(service, ['mark-migrated', number])).code).toBe(0);
    expect((await hsmpAdmin(service, ['restore', number])).code).toBe(0);
    const fresh = await key();
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(spent);
    expect(await key()).toBe(fresh);
  });
});
