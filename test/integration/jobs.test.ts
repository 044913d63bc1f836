import { spawn } from 'node:child_process';
import path from 'node:path';
import { withCheckDigits } from '../../src/participants/participant-id';
import { DEV_NEW_SMP_ID } from '../../src/dev/dev-sml-wiring';
import { hsmpAdmin } from '../support/cli';
import { closeAgents } from '../support/pki';
import { startTcpProxy } from '../support/tcp-proxy';
import { adminJob, itWithServers, startTestService, type TestService } from '../support/service';

/**
 * SPEC §4: long work runs as a job on the server, with its state and progress stored; the CLI
 * follows it and may go away and come back; one job of each kind runs at a time across
 * instances, and the job of a dead instance does not block the next one forever. SPEC §9: the
 * reconciliation's limits (a listing going round in a circle, an oversized page, the share
 * valve over a window) end the job with a clear problem and mark nothing.
 */
const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'hsmp-admin.js');
const SMP_ID = 'HERMES-SMP';
/** Listed by the development SML under hsmp's SMP id: 60 pages of 50, so that a listing takes a while. */
const LISTED = Array.from({ length: 3000 }, (_, i) => withCheckDigits(String(4_000_000 + i).padStart(8, '0')));
/** Enterprises hsmp holds with a key prepared, for the share valve. */
const HELD = Array.from({ length: 100 }, (_, i) => withCheckDigits(String(5_000_000 + i).padStart(8, '0')));

let service: TestService;
const migratedCount = async () => Number((await service.database.pool.query("SELECT count(*) AS n FROM enterprise WHERE status = 'migrated'")).rows[0].n);
const jobRow = async (id: string) => (await service.admin('GET', `/admin/jobs/${id}`)).json();
const slowListing = () => {
  service.devSml.delayMs = 60;
};

beforeAll(async () => {
  service = await startTestService({ env: { HSMP_SML_RECONCILE_MAX_SHARE: '0.1', HSMP_SML_RECONCILE_INTERVAL: '0' } });
  for (const number of LISTED) service.devSml.assign('test', `0208:${number}`, SMP_ID);
  await service.database.pool.query("INSERT INTO enterprise (enterprise_number, status) SELECT unnest($1::char(10)[]), 'active'", [HELD]);
  const prepared = await adminJob(service, 'POST', '/admin/sml/prepare', { environment: 'test', reason: 'test' });
  expect(prepared.job).toMatchObject({ state: 'succeeded', result: { prepared: HELD.length } });
}, 240_000);
afterEach(() => {
  if (!service) return;
  service.devSml.delayMs = 0;
  service.devSml.fault = undefined;
});
jest.setTimeout(180_000);
afterAll(async () => {
  await service?.stop();
  await closeAgents();
});

/** The real hsmp-admin as a child process that the test can watch and kill. */
function startCli(args: string[], adminUrl = service.adminUrl) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HSMP_ADMIN_URL: adminUrl, HSMP_ADMIN_TOKEN: service.operatorToken },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  const until = async (pattern: RegExp, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!pattern.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr within ${ms} ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, until, out: () => ({ stdout, stderr }) };
}

describe('jobs', () => {
  it('a reconciliation answers 202 at once with the job; its progress is stored and shown while it runs', async () => {
    slowListing();
    const started = await service.admin('POST', '/admin/sml/reconcile', { environment: 'test', reason: 'test' });
    expect(started.status).toBe(202);
    const job = started.json();
    expect(started.headers.location).toBe(`/admin/jobs/${job.id}`);
    expect(job).toMatchObject({ kind: 'sml-reconcile', state: 'running', operator: 'tester', reason: 'test', input: { environments: ['test'], force: false } });

    const during = (await service.admin('GET', `/admin/jobs/${job.id}?wait=10&after=${job.revision}`)).json();
    expect(during.state).toBe('running');
    expect(during.revision).toBeGreaterThan(job.revision);
    expect(during.progress).toMatchObject({ environment: 'test', phase: 'listing' });
    expect(during.progress.pages).toBeGreaterThan(0);
    // Progress reaches the row at most once a second: the shown progress may be a write ahead of it.
    const storedRow = async () => (await service.database.pool.query('SELECT state, progress FROM job WHERE id = $1', [job.id])).rows[0];
    let stored = await storedRow();
    for (const deadline = Date.now() + 5_000; !(stored.progress?.pages > 0) && Date.now() < deadline; stored = await storedRow())
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stored.state).toBe('running');
    expect(stored.progress.pages).toBeGreaterThan(0);

    const running = await service.admin('POST', '/admin/sml/reconcile', { environment: 'test' });
    expect(running.status).toBe(409);
    expect(running.json()).toMatchObject({ code: 'job-running', job: { id: job.id } });
    expect(running.json().detail).toMatch(`hsmp-admin jobs follow ${job.id}`);

    service.devSml.delayMs = 0;
    let ended = during;
    while (ended.state === 'running') ended = (await service.admin('GET', `/admin/jobs/${job.id}?wait=10&after=${ended.revision}`)).json();
    expect(ended.state).toBe('succeeded');
    expect(ended.result.reconciliations[0]).toMatchObject({ environment: 'test', pages: 62, listed: LISTED.length + HELD.length, missing: 0, marked: 0 });
    const listed = await hsmpAdmin(service, ['jobs']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(
        `^job ${job.id} sml-reconcile succeeded \\(started .* by tester, ended .*\\): reconciled test: the SML lists 3100 participants \\(62 pages\\)`,
        'm',
      ),
    );
  });

  it('the CLI can be killed while following: the job goes on, and `jobs follow` reattaches and prints its end', async () => {
    slowListing();
    const cli = startCli(['sml', 'reconcile', '--environment', 'test', '--reason', 'test']);
    await cli.until(/sml reconcile: test: listing, \d+ pages/);
    const id = /job (\d+) \(sml-reconcile\) started/.exec(cli.out().stderr)?.[1] ?? '';
    cli.child.kill('SIGKILL');
    await cli.exited;
    expect((await jobRow(id)).state).toBe('running');

    service.devSml.delayMs = 10;
    const again = await hsmpAdmin(service, ['jobs', 'follow', id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      /^reconciled test: the SML lists 3100 participants \(62 pages\); 0 of 100 prepared keys no longer listed, 0 marked migrated$/m,
    );
    expect((await jobRow(id)).state).toBe('succeeded');
  });

  it('the CLI rides out a lost connection to the admin listener, and --detach returns at once', async () => {
    slowListing();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(service.adminUrl).port) });
    try {
      const cli = startCli(['sml', 'reconcile', '--environment', 'test'], `http://127.0.0.1:${proxy.port}`);
      await cli.until(/sml reconcile: test: listing, \d+ pages/);
      await proxy.cut();
      await cli.until(/cannot reach the admin listener .*; trying again \(the job goes on on the server\)/);
      await proxy.restore();
      service.devSml.delayMs = 0;
      expect(await cli.exited).toBe(0);
      expect(cli.out().stderr).toMatch(/reached the admin listener again; following job \d+/);
      expect(cli.out().stdout).toMatch(/^reconciled test: the SML lists 3100 participants/);
    } finally {
      await proxy.close();
    }

    const detached = await hsmpAdmin(service, ['--json', 'sml', 'reconcile', '--environment', 'test', '--detach']);
    expect(detached.code).toBe(0);
    const job = JSON.parse(detached.stdout);
    expect(job).toMatchObject({ kind: 'sml-reconcile', state: 'running' });
    expect((await hsmpAdmin(service, ['jobs', 'follow', job.id])).code).toBe(0);
  });

  it('a running job whose instance died (its lease ran out) does not block the next start: it is shown, and marked, abandoned', async () => {
    const dead = await service.database.pool.query<{ id: string }>(
      `INSERT INTO job (kind, operator, input, instance, started_at, heartbeat_at, lease_until)
       VALUES ('sml-prepare', 'tester', '{}', 'a-dead-instance', now() - interval '5 minutes', now() - interval '2 minutes', now() - interval '1 minute')
       RETURNING id`,
    );
    const id = dead.rows[0].id;
    expect((await jobRow(id)).state).toBe('abandoned');
    const next = await adminJob(service, 'POST', '/admin/sml/prepare', { environment: 'test' });
    expect(next.status).toBe(202);
    expect(next.job.state).toBe('succeeded');
    const stored = await service.database.pool.query('SELECT state, problem, finished_at FROM job WHERE id = $1', [id]);
    expect(stored.rows[0]).toMatchObject({ state: 'abandoned', problem: { code: 'job-abandoned' } });
    expect(stored.rows[0].finished_at).not.toBeNull();
  });

  itWithServers('DATABASE_URL')('one reconciliation at a time across two instances sharing the database', async () => {
    const second = await startTestService({ sameStoreAs: service, env: { HSMP_SML_RECONCILE_INTERVAL: '0' } });
    try {
      slowListing();
      const first = await service.admin('POST', '/admin/sml/reconcile', { environment: 'test' });
      expect(first.status).toBe(202);
      const refused = await second.admin('POST', '/admin/sml/reconcile', { environment: 'test' });
      expect(refused.status).toBe(409);
      expect(refused.json()).toMatchObject({ code: 'job-running', job: { id: first.json().id, instance: service.jobs.instance } });
      // The other instance shows the job's progress from the database.
      const seen = (await second.admin('GET', `/admin/jobs/${first.json().id}?wait=5&after=${first.json().revision}`)).json();
      expect(seen).toMatchObject({ state: 'running', progress: { phase: 'listing' } });
      service.devSml.delayMs = 0;
      const followed = await hsmpAdmin(second, ['jobs', 'follow', first.json().id]);
      expect(followed.code).toBe(0);
      const after = await adminJob(second, 'POST', '/admin/sml/reconcile', { environment: 'test' });
      expect(after.job).toMatchObject({ state: 'succeeded', instance: second.jobs.instance });
    } finally {
      await second.stop();
    }
  });
});

describe('the reconciliation ends with a clear problem and marks nothing when the SML answers nonsense', () => {
  it('page ids going round in a circle (1, 2, 1) are caught on the first repeat, not by a page cap', async () => {
    const before = await migratedCount();
    service.devSml.fault = 'cycling-pages';
    const { job } = await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', force: true });
    expect(job.state).toBe('failed');
    expect(job.problem).toMatchObject({ code: 'sml-listing-invalid', status: 502 });
    expect(job.problem.detail).toBe("the test SML's listing cannot be trusted: it repeated page 1 after 3 pages; nothing was changed");
    expect(await migratedCount()).toBe(before);
    const cli = await hsmpAdmin(service, ['sml', 'reconcile', '--environment', 'test', '--force']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(
      /hsmp-admin: the test SML's listing cannot be trusted: it repeated page 1 after 3 pages; nothing was changed \(HTTP 502, job \d+\)\n$/,
    );
  });

  it('a page larger than the bound (1 MiB) is refused before it is parsed', async () => {
    service.devSml.fault = 'oversized-page';
    const before = await migratedCount();
    const { job } = await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', force: true });
    expect(job.problem).toMatchObject({ code: 'sml-unavailable', status: 503 });
    expect(job.problem.detail).toMatch(/SML List unavailable \(protocol\): response larger than 1048576 bytes; nothing was changed/);
    expect(await migratedCount()).toBe(before);
  });

  it('the share valve adds up the window: 8 % now after 8 % earlier is refused, with the counts', async () => {
    const away = (numbers: string[]) => {
      for (const number of numbers) service.devSml.assign('test', `0208:${number}`, DEV_NEW_SMP_ID);
    };
    away(HELD.slice(0, 8));
    const first = await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', reason: 'test' });
    expect(first.job.result.reconciliations[0]).toMatchObject({ prepared: 100, missing: 8, marked: 8, window: { hours: 24, marked: 0 } });

    away(HELD.slice(8, 16));
    const before = await migratedCount();
    const second = await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', reason: 'test' });
    expect(second.job.state).toBe('failed');
    expect(second.job.problem).toMatchObject({
      code: 'reconcile-refused',
      status: 409,
      summary: { prepared: 92, missing: 8, marked: 0, window: { marked: 8 } },
    });
    expect(second.job.problem.detail).toBe(
      'reconciliation of test refused: it would mark 8 of 92 prepared keys migrated; with the 8 marked in the last 24 h that is 16 of 100 (16.0 %), more than HSMP_SML_RECONCILE_MAX_SHARE (0.1) within 24 h; check the SML listing, or force it; nothing was changed',
    );
    expect(await migratedCount()).toBe(before);

    const forced = await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', force: true, reason: 'confirmed with BOSA' });
    expect(forced.job.result.reconciliations[0]).toMatchObject({ missing: 8, marked: 8, forced: true });
  });
});
