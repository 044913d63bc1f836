import { readFileSync } from 'node:fs';
import { datasetNumbers, type Dataset } from '../../src/participants/datasets';
import { generateMigrationKey } from '../../src/participants/migration-key';
import type { DevSml } from '../../src/dev/dev-sml';
import { SmlClient } from '../../src/sml';
import { DEV_NEW_SMP_ID, startDevSmlForDevPki } from '../../src/dev/dev-sml-wiring';
import type { DevPkiIndex } from '../../src/dev/dev-pki';
import { hsmpAdmin } from '../support/cli';
import { closeAgents, testPki } from '../support/pki';
import { seed } from '../support/seed';
import { adminJob, itWithServers, startTestService, type TestService } from '../support/service';

/**
 * SPEC §9 over real mutual TLS: hsmp prepares every key with the (development) SML before it
 * leaves, notices finished migrations by reconciliation, and never leaks a key when the SML
 * is in trouble. The SML of `production` is a second development SML, configured explicitly.
 */
let service: TestService;
let productionSml: DevSml;
let data: Dataset;
const TIMEOUT_MS = 800;
const route = (number: string, environment = 'test') => `/hermes-rw/migrationKey/${number}?environment=${environment}`;
const collect = async (number: string, environment = 'test') => {
  const response = await service.get(route(number, environment), { accept: 'application/json' });
  return { status: response.status, body: response.json(), headers: response.headers };
};
const prepares = (sml: DevSml, participant: string) => sml.calls.filter((c) => c.operation === 'PrepareToMigrate' && c.participant === participant).length;
const keyRow = async (number: string, environment = 'test') =>
  (
    await service.database.pool.query('SELECT key_digest, prepared_at FROM migration_key WHERE enterprise_number = $1 AND environment = $2', [
      number,
      environment,
    ])
  ).rows[0];
const statusOf = async (number: string) =>
  (await service.database.pool.query('SELECT status FROM enterprise WHERE enterprise_number = $1', [number])).rows[0]?.status;
const migratedIn = async (environment: string) =>
  (await service.database.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM participant_migration WHERE environment = $1', [environment])).rows[0].n;

function newSmp(environment: 'test' | 'production' = 'test', sml: DevSml = service.devSml): SmlClient {
  const pki = testPki();
  return new SmlClient(
    {
      url: sml.endpoint(environment),
      cert: readFileSync(pki.clientCert('smp-new')),
      key: readFileSync(pki.clientKey('smp-new')),
      ca: readFileSync(pki.serverCa),
    },
    { timeoutMs: 5000 },
  );
}

beforeAll(async () => {
  const pki = testPki();
  const index = JSON.parse(readFileSync(pki.index, 'utf8')) as DevPkiIndex;
  productionSml = await startDevSmlForDevPki({ pkiDir: pki.dir, index, smpId: 'HERMES-SMP', port: 0 });
  service = await startTestService({
    env: {
      HSMP_SML_TIMEOUT_MS: String(TIMEOUT_MS),
      HSMP_SML_RECONCILE_MAX_SHARE: '0.5',
      HSMP_SML_RECONCILE_INTERVAL: '0',
      HSMP_SML_URL_PRODUCTION: productionSml.endpoint('production'),
      HSMP_SML_CERT_PRODUCTION: pki.clientCert('smp-production'),
      HSMP_SML_KEY_PRODUCTION: pki.clientKey('smp-production'),
      HSMP_SML_CA: pki.serverCa,
    },
  });
  await seed(service, 3);
  data = datasetNumbers(1);
});
afterEach(() => {
  service.devSml.fault = undefined;
  service.devSml.delayMs = 0;
});
afterAll(async () => {
  await service?.stop();
  await productionSml?.close();
  await closeAgents();
});

describe('prepare before the first answer', () => {
  it('the first collection prepares the key with the SML, then answers the key the SML holds', async () => {
    const number = data[1][0];
    const first = await collect(number);
    expect(first.status).toBe(200);
    expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe(first.body.migrationKey);
    expect(prepares(service.devSml, `0208:${number}`)).toBe(1);
    expect((await keyRow(number)).prepared_at).toBeInstanceOf(Date);
    const logged = await service.database.pool.query('SELECT outcome FROM collection_log WHERE enterprise_number = $1', [number]);
    expect(logged.rows.map((r) => r.outcome)).toEqual(['200']);
  });

  it('a repeated collection answers the prepared key without calling the SML', async () => {
    const number = data[1][1];
    const first = await collect(number);
    const callsBefore = service.devSml.calls.length;
    const again = await collect(number);
    expect(again.body.migrationKey).toBe(first.body.migrationKey);
    expect(service.devSml.calls.length).toBe(callsBefore);
  });

  it('50 concurrent first collections in one instance: one key, one SML call, the SML holds it', async () => {
    const number = data[1][2];
    const answers = await Promise.all(Array.from({ length: 50 }, () => collect(number)));
    const keys = new Set(answers.map((a) => a.body.migrationKey));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(keys.size).toBe(1);
    expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe([...keys][0]);
    expect(prepares(service.devSml, `0208:${number}`)).toBe(1);
  });

  itWithServers('DATABASE_URL')("50 concurrent first collections across two instances: one key, equal to the SML's", async () => {
    const second = await startTestService({ sameStoreAs: service, env: { HSMP_SML_URL_PRODUCTION: '', HSMP_ENVIRONMENTS: 'test' } });
    try {
      const number = data[1][3];
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 ? second : service).get(route(number), { accept: 'application/json' }).then((r) => ({ status: r.status, key: r.json().migrationKey })),
        ),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const keys = new Set(answers.map((a) => a.key));
      expect(keys.size).toBe(1);
      expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe([...keys][0]);
      // At most one call per instance: each instance's single flight, and the same key in both.
      expect(prepares(service.devSml, `0208:${number}`)).toBeLessThanOrEqual(2);
    } finally {
      await second.stop();
    }
  });

  it('the production environment is prepared with its own SML', async () => {
    const number = data[5][0];
    const answer = await collect(number, 'production');
    expect(answer.status).toBe(200);
    expect(productionSml.preparedKey('production', `0208:${number}`)).toBe(answer.body.migrationKey);
    expect(service.devSml.calls.some((c) => c.participant === `0208:${number}`)).toBe(false);
  });
});

describe('SML trouble: 503 within the bound, no key, nothing marked, then the same key', () => {
  for (const [fault, expected] of [
    ['drop-connection', 'network'],
    ['stall', 'timeout'],
    ['internal-error', 'fault_InternalError'],
  ] as const) {
    it(fault, async () => {
      const number = datasetNumbers(2)[1][['drop-connection', 'stall', 'internal-error'].indexOf(fault)];
      service.devSml.fault = fault;
      const started = Date.now();
      const refused = await collect(number);
      const elapsed = Date.now() - started;
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('HSMP-999');
      expect(refused.headers['retry-after']).toBeDefined();
      expect(JSON.stringify(refused.body)).not.toMatch(/migrationKey/);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 2000);
      const pending = await keyRow(number);
      expect(pending.prepared_at).toBeNull();
      expect(service.devSml.preparedKey('test', `0208:${number}`)).toBeUndefined();
      const metrics = await fetch(`${service.adminUrl}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(new RegExp(`hsmp_sml_requests_total\\{operation="PrepareToMigrate",outcome="${expected}"\\} [1-9]`));
      const logged = await service.database.pool.query('SELECT outcome FROM collection_log WHERE enterprise_number = $1', [number]);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the outcome is settled after the answer
      const settled = await service.database.pool.query('SELECT outcome FROM collection_log WHERE enterprise_number = $1', [number]);
      expect(logged.rows.length).toBe(1);
      expect(settled.rows.map((r) => r.outcome)).toEqual(['HSMP-999']);

      service.devSml.fault = undefined;
      const recovered = await collect(number);
      expect(recovered.status).toBe(200);
      expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe(recovered.body.migrationKey);
      const prepared = await keyRow(number);
      expect(prepared.key_digest.equals(pending.key_digest)).toBe(true);
      expect(prepared.prepared_at).toBeInstanceOf(Date);
    });
  }

  it('a key the SML refuses by its rule ([ERR-106]) is a 503 and an error, not a 200', async () => {
    const lines: string[] = [];
    const strict = await startTestService({ logLines: lines, devSml: service.devSml, env: { HSMP_ENVIRONMENTS: 'test' } });
    try {
      await seed(strict);
      service.devSml.fault = 'reject-keys';
      const number = datasetNumbers(1)[1][9];
      const response = await strict.get(route(number), { accept: 'application/json' });
      expect(response.status).toBe(503);
      expect(response.body).not.toMatch(/migrationKey/);
      expect(lines.some((l) => /"level":50/.test(l) && /key-rule/.test(l))).toBe(true);
      expect(service.devSml.preparedKey('test', `0208:${number}`)).toBeUndefined();
    } finally {
      await strict.stop();
    }
  });

  it('a deployment the SML refuses shows in /readyz and the metrics, and changes no enterprise', async () => {
    const number = datasetNumbers(2)[1][3];
    service.devSml.fault = 'unknown-smp';
    expect((await collect(number)).status).toBe(503);
    const ready = await fetch(`${service.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).sml.test).toBe('refuses this SMP');
    const health = (await service.admin('GET', '/admin/health')).json();
    expect(health.sml.test).toMatchObject({ state: 'refuses this SMP', lastProblem: { trouble: 'deployment', message: expect.stringMatching(/ERR-100/) } });
    expect(await fetch(`${service.adminUrl}/metrics`).then((r) => r.text())).toMatch(/hsmp_sml_deployment_ok\{environment="test"\} 0/);
    expect(await statusOf(number)).toBe('active');

    service.devSml.fault = undefined;
    expect((await collect(number)).status).toBe(200);
    const again = await fetch(`${service.adminUrl}/readyz`);
    expect(again.status).toBe(200);
    expect(((await again.json()) as any).sml.test).toBe('ok');
  });

  it("a participant the SML says is not this SMP's → 404 HSMP-013 for that request, data unchanged", async () => {
    const number = datasetNumbers(2)[5][0];
    service.devSml.assign('test', `0208:${number}`, 'ANOTHER-SMP');
    const response = await collect(number);
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('HSMP-013');
    expect(response.body.participantId).toBe(`0208:${number}`);
    expect(await statusOf(number)).toBe('active');
    // The test SML's answer says nothing about production's registry.
    const production = await collect(number, 'production');
    expect(production.status).toBe(200);
    expect(productionSml.preparedKey('production', `0208:${number}`)).toBe(production.body.migrationKey);
  });
});

describe('reconciliation', () => {
  it('a migration rehearsed in test is noticed in test only: test 013, production still 200 with its key', async () => {
    const [migrating, staying] = [datasetNumbers(3)[1][0], datasetNumbers(3)[1][1]];
    const productionKey = (await collect(migrating, 'production')).body.migrationKey;
    const key = (await collect(migrating)).body.migrationKey;
    const stayingKey = (await collect(staying)).body.migrationKey;
    const smp = newSmp();
    try {
      await expect(smp.migrate({ smpId: DEV_NEW_SMP_ID, participant: `0208:${migrating}`, migrationKey: generateMigrationKey() })).rejects.toThrow(/ERR-101/);
      await smp.migrate({ smpId: DEV_NEW_SMP_ID, participant: `0208:${migrating}`, migrationKey: key });
    } finally {
      await smp.close();
    }
    expect(service.devSml.owner('test', `0208:${migrating}`)).toBe(DEV_NEW_SMP_ID);

    const reconciled = await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', reason: 'test' });
    expect(reconciled.status).toBe(202);
    expect(reconciled.job.state).toBe('succeeded');
    const [summary] = reconciled.job.result.reconciliations;
    expect(summary).toMatchObject({ environment: 'test', missing: 1, marked: 1 });
    expect(summary.prepared).toBeGreaterThan(2);
    expect((await collect(migrating)).body.code).toBe('HSMP-013');
    expect((await collect(staying)).body.migrationKey).toBe(stayingKey);
    const production = await collect(migrating, 'production');
    expect(production.status).toBe(200);
    expect(production.body.migrationKey).toBe(productionKey);
    expect(productionSml.preparedKey('production', `0208:${migrating}`)).toBe(productionKey);
    expect(productionSml.owner('production', `0208:${migrating}`)).toBe('HERMES-SMP');
    const audit = await service.admin('GET', '/admin/audit?limit=5');
    const audited = audit.json().entries.find((e: any) => e.action === 'sml-reconcile').details;
    // The audit row says what the run did, as the answer does: the count marked and when it finished.
    expect(audited).toMatchObject({ environment: 'test', missing: 1, marked: 1, result: 1, finishedAt: summary.finishedAt });
    expect(Date.parse(audited.finishedAt)).toBeGreaterThanOrEqual(Date.parse(audited.startedAt));

    // Restored by an operator, it gets a fresh key, prepared anew: the spent one never comes back.
    expect((await service.admin('POST', `/admin/enterprises/${migrating}/restore`, { reason: 'test' })).status).toBe(200);
    service.devSml.assign('test', `0208:${migrating}`, 'HERMES-SMP');
    const fresh = await collect(migrating);
    expect(fresh.status).toBe(200);
    expect(fresh.body.migrationKey).not.toBe(key);
    expect(service.devSml.preparedKey('test', `0208:${migrating}`)).toBe(fresh.body.migrationKey);
  });

  it('a dry run (API and --dry-run) reads the listing and counts what a run would do, changing nothing', async () => {
    const pool = service.database.pool;
    const state = async () => ({
      test: await migratedIn('test'),
      production: await migratedIn('production'),
      audit: (await pool.query("SELECT count(*)::int AS n FROM audit_log WHERE action LIKE 'sml-reconcile%'")).rows[0].n,
      runs: (await pool.query('SELECT count(*)::int AS n FROM sml_reconciliation_run')).rows[0].n,
      last: (await pool.query('SELECT environment, finished_at FROM sml_reconciliation ORDER BY environment')).rows,
    });
    const before = await state();
    service.devSml.fault = 'empty-listing';
    const refused = (await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', dryRun: true, reason: 'preview' })).job;
    expect(refused).toMatchObject({ state: 'succeeded', input: { environments: ['test'], dryRun: true } });
    const [preview] = refused.result.previews;
    expect(refused.result.dryRun).toBe(true);
    expect(preview).toMatchObject({ environment: 'test', listed: 0, refused: true, wouldMark: 0, forced: false });
    expect(preview.prepared).toBeGreaterThan(0);
    expect(preview.missing).toBe(preview.prepared);
    expect(preview.share).toBe(1);

    const forced = (await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test', dryRun: true, force: true })).job;
    expect(forced.result.previews[0]).toMatchObject({ refused: false, wouldMark: preview.missing, forced: true });

    const cli = await hsmpAdmin(service, ['sml', 'reconcile', '--environment', 'test', '--dry-run', '--reason', 'preview']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(
      /^preview of test \(nothing changed\): the SML lists 0 participants \(\d+ pages\); (\d+) of \1 prepared keys no longer listed; a run would be refused \(100\.0 % > HSMP_SML_RECONCILE_MAX_SHARE [\d.]+\) unless forced/,
    );
    service.devSml.fault = undefined;
    const healthy = await hsmpAdmin(service, ['sml', 'reconcile', '--dry-run']);
    expect(healthy.stdout).toMatch(/^preview of test \(nothing changed\): .* a run would mark \d+ migrated\npreview of production \(nothing changed\)/);
    expect(await state()).toEqual(before);
  });

  it('an empty listing is refused by the safety valve and changes nothing; --force through the CLI applies it', async () => {
    const before = await migratedIn('test');
    const productionBefore = await migratedIn('production');
    service.devSml.fault = 'empty-listing';
    const refused = (await adminJob(service, 'POST', '/admin/sml/reconcile', { environment: 'test' })).job;
    expect(refused.state).toBe('failed');
    expect(refused.problem).toMatchObject({ code: 'reconcile-refused', status: 409 });
    expect(refused.problem.summary.marked).toBe(0);
    expect(await migratedIn('test')).toBe(before);
    const cli = await hsmpAdmin(service, ['sml', 'reconcile', '--environment', 'test']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/refused: it would mark \d+ of \d+ prepared keys migrated/);

    const forced = await hsmpAdmin(service, ['sml', 'reconcile', '--environment', 'test', '--force', '--reason', 'test']);
    expect(forced.code).toBe(0);
    const [, missing, prepared, marked] = /(\d+) of (\d+) prepared keys no longer listed, (\d+) marked migrated/.exec(forced.stdout) ?? [];
    expect(Number(marked)).toBe(Number(missing));
    expect(Number(missing)).toBe(Number(prepared));
    expect(await migratedIn('test')).toBe(before + Number(marked));
    // The reconciliation of test marks test only.
    expect(await migratedIn('production')).toBe(productionBefore);
  });

  it('hsmp-admin sml reconcile prints the counts', async () => {
    const cli = await hsmpAdmin(service, ['sml', 'reconcile', '--environment', 'production', '--reason', 'test']);
    expect(cli.stderr).toMatch(/^job \d+ \(sml-reconcile\) started; Ctrl-C detaches \(the job goes on\)\n/);
    expect(cli.stderr).toMatch(/sml reconcile: production: (listing|judging|marking), 1 pages, \d+ participants listed\n/);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(
      /^reconciled production: the SML lists \d+ participants \(1 pages\); 0 of \d+ prepared keys no longer listed, 0 marked migrated/,
    );
  });
});

describe('bulk preparation', () => {
  it('hsmp-admin sml prepare prepares every active enterprise, resumably, and collections then call no SML', async () => {
    const first = await hsmpAdmin(service, ['sml', 'prepare', '--environment', 'production', '--rate', '1000', '--reason', 'test']);
    expect({ code: first.code, stderr: first.stderr }).toMatchObject({ code: 0 });
    expect(first.stderr).toMatch(/sml prepare: \d+ prepared, 0 not this SMP's, [\d.]+\/s, done/);
    const count = Number(/prepared (\d+) keys in production/.exec(first.stdout)?.[1]);
    expect(count).toBeGreaterThan(0);
    const unprepared = await service.database.pool.query(
      `SELECT count(*)::int AS n FROM enterprise e LEFT JOIN migration_key k ON k.enterprise_number = e.enterprise_number AND k.environment = 'production'
        WHERE e.status = 'active' AND k.prepared_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM participant_migration m WHERE m.enterprise_number = e.enterprise_number AND m.environment = 'production')`,
    );
    expect(unprepared.rows[0].n).toBe(0);
    const again = await hsmpAdmin(service, ['sml', 'prepare', '--environment', 'production']);
    expect(again.stdout).toMatch(/prepared 0 keys in production/);

    const number = datasetNumbers(3)[5][4];
    const calls = productionSml.calls.length;
    const answer = await collect(number, 'production');
    expect(answer.body.migrationKey).toBe(productionSml.preparedKey('production', `0208:${number}`));
    expect(productionSml.calls.length).toBe(calls);
  });
});
