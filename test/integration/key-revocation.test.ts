import { readFileSync } from 'node:fs';
import { datasetNumbers } from '../../src/participants/datasets';
import { DEV_NEW_SMP_ID } from '../../src/dev/dev-sml-wiring';
import { SmlClient } from '../../src/sml';
import { hsmpAdmin } from '../support/cli';
import { closeAgents, testPki } from '../support/pki';
import { seed } from '../support/seed';
import { itWithServers, startTestService, type TestService } from '../support/service';

/**
 * SPEC §9 "Revocation" over real mutual TLS with the development SML: a fresh key is prepared
 * at the SML before the database forgets the old one; the old key is refused by the SML's
 * Migrate, the new one is handed out and accepted; SML trouble changes nothing; concurrent
 * collections on two instances end with the database holding the SML's key; rotation by age.
 */
let service: TestService;
/** The service's clock: real time plus this offset (rotation by age). */
let clockOffsetMs = 0;
const DAY_MS = 86_400_000;
const route = (number: string, environment = 'test') => `/hermes-rw/migrationKey/${number}?environment=${environment}`;
const collectFrom = async (instance: TestService, number: string, certificate: 'ap-production' | 'ap-test' = 'ap-production') => {
  const response = await instance.get(route(number), { accept: 'application/json', certificate });
  return { status: response.status, key: response.json().migrationKey as string | undefined, body: response.body };
};
const collect = (number: string, certificate?: 'ap-production' | 'ap-test') => collectFrom(service, number, certificate);

/** Migrate as the new SMP (the development PKI's second SMP certificate) with `key`. */
async function migrateAsNewSmp(number: string, key: string): Promise<void> {
  const pki = testPki();
  const smp = new SmlClient(
    {
      url: service.devSml.endpoint('test'),
      cert: readFileSync(pki.clientCert('smp-new')),
      key: readFileSync(pki.clientKey('smp-new')),
      ca: readFileSync(pki.serverCa),
    },
    { timeoutMs: 10_000 },
  );
  try {
    await smp.migrate({ smpId: DEV_NEW_SMP_ID, participant: `0208:${number}`, migrationKey: key });
  } finally {
    await smp.close();
  }
}
const digestOf = async (number: string) =>
  (await service.database.pool.query("SELECT key_digest FROM migration_key WHERE enterprise_number = $1 AND environment = 'test'", [number])).rows[0]
    ?.key_digest as Buffer | undefined;
const auditRows = async (action: string) =>
  (await service.database.pool.query('SELECT operator, target, reason, details FROM audit_log WHERE action = $1 ORDER BY id', [action])).rows;

beforeAll(async () => {
  service = await startTestService({
    env: { HSMP_SML_RECONCILE_INTERVAL: '0', HSMP_KEY_MAX_AGE_DAYS: '30' },
    now: () => new Date(Date.now() + clockOffsetMs),
  });
  await seed(service, 2);
});
afterEach(() => {
  service.devSml.fault = undefined;
  clockOffsetMs = 0;
});
afterAll(async () => {
  await service?.stop();
  await closeAgents();
});

describe('hsmp-admin key revoke', () => {
  it('the old key is refused by the SML, the new one is handed out and accepted; audited with who had the old one', async () => {
    const number = datasetNumbers(1)[1][0];
    const old = (await collect(number)).key;
    expect(old).toBeDefined();
    expect((await collect(number)).key).toBe(old);
    expect((await collect(number, 'ap-test')).key).toBe(old);

    const revoked = await hsmpAdmin(service, ['key', 'revoke', `BE${number}`, '--environment', 'test', '--reason', 'leaked in a ticket']);
    expect(revoked.stderr).toBe('');
    expect(revoked.stdout).toBe(
      `revoked the test key of ${number} (revocation 1): it had been collected 3 times by PBE000001, PBE000002; a new key is prepared at the SML and goes to the next collection\n`,
    );
    const fresh = (await collect(number)).key;
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(old);
    expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe(fresh);

    await expect(migrateAsNewSmp(number, old as string)).rejects.toThrow(/ERR-101|key/i);
    expect(service.devSml.owner('test', `0208:${number}`)).not.toBe(DEV_NEW_SMP_ID);
    await migrateAsNewSmp(number, fresh as string);
    expect(service.devSml.owner('test', `0208:${number}`)).toBe(DEV_NEW_SMP_ID);

    const [audit] = await auditRows('key-revoke');
    expect(audit).toMatchObject({ operator: 'tester', target: `${number}/test`, reason: 'leaked in a ticket' });
    expect(audit.details.result).toMatchObject({ environment: 'test', revocations: 1, revokedKey: { collections: 3, users: ['PBE000001', 'PBE000002'] } });
    expect(JSON.stringify(audit)).not.toContain(old);
    expect(JSON.stringify(audit)).not.toContain(fresh);
  });

  it('SML trouble: 503 and exit 1, nothing changed, the old key still collected and still the SML’s', async () => {
    const number = datasetNumbers(1)[1][1];
    const old = (await collect(number)).key;
    const digest = await digestOf(number);
    const auditsBefore = (await auditRows('key-revoke')).length;
    for (const fault of ['drop-connection', 'internal-error'] as const) {
      service.devSml.fault = fault;
      const response = await service.admin('POST', `/admin/enterprises/${number}/revoke-key`, { environment: 'test', reason: 'test' });
      expect(response.status).toBe(503);
      expect(response.body).not.toContain(old);
      const cli = await hsmpAdmin(service, ['key', 'revoke', number, '--environment', 'test', '--reason', 'test']);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toMatch(/HTTP 503/);
    }
    service.devSml.fault = undefined;
    expect((await digestOf(number))?.equals(digest as Buffer)).toBe(true);
    expect((await auditRows('key-revoke')).length).toBe(auditsBefore);
    expect((await collect(number)).key).toBe(old);
    expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe(old);
    expect((await hsmpAdmin(service, ['key', 'revoke', number, '--environment', 'test', '--reason', 'retry'])).code).toBe(0);
    expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe((await collect(number)).key);
  });

  it('nothing to revoke: no key, a participant migrated there, an unknown enterprise; no reason: refused; nothing audited', async () => {
    const auditsBefore = (await service.admin('GET', '/admin/audit?limit=1000')).json().entries.length;
    const noKey = datasetNumbers(2)[1][0];
    const none = await service.admin('POST', `/admin/enterprises/${noKey}/revoke-key`, { environment: 'test', reason: 'test' });
    expect(none.status).toBe(409);
    expect(none.json()).toMatchObject({ code: 'nothing-to-revoke', detail: `0208:${noKey} has no key in test: nothing to revoke` });
    const both = await hsmpAdmin(service, ['key', 'revoke', noKey, '--reason', 'test']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/has no key in test: nothing to revoke; 0208:\d+ has no key in production: nothing to revoke \(HTTP 409\)/);
    const migrated = datasetNumbers(1)[2][0];
    expect((await service.admin('POST', `/admin/enterprises/${migrated}/revoke-key`, { reason: 'test' })).status).toBe(409);
    expect((await service.admin('POST', `/admin/enterprises/0200065765/revoke-key`, { reason: 'test' })).status).toBe(404);
    expect((await service.admin('POST', `/admin/enterprises/${noKey}/revoke-key`, { environment: 'test' })).status).toBe(400);
    const unreasoned = await hsmpAdmin(service, ['key', 'revoke', noKey]);
    expect(unreasoned.code).toBe(1);
    expect(unreasoned.stderr).toMatch(/--reason/);
    expect((await service.admin('GET', '/admin/audit?limit=1000')).json().entries.length).toBe(auditsBefore);
  });
});

describe('concurrent collections while a key is revoked', () => {
  const property = async (instances: TestService[], number: string) => {
    const old = (await collectFrom(instances[0], number)).key;
    let answeredAt = 0;
    const revocation = service.admin('POST', `/admin/enterprises/${number}/revoke-key`, { environment: 'test', reason: 'concurrency' }).then((r) => {
      answeredAt = Date.now();
      return r;
    });
    const collections = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 5));
        const startedAt = Date.now();
        const answer = await collectFrom(instances[i % instances.length], number);
        return { ...answer, startedAt };
      }),
    );
    expect((await revocation).status).toBe(200);
    const fresh = service.devSml.preparedKey('test', `0208:${number}`);
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(old);
    expect(collections.every((c) => c.status === 200 && (c.key === old || c.key === fresh))).toBe(true);
    // Once the revocation has answered, no collection hands out the key the SML no longer holds.
    expect(collections.filter((c) => c.startedAt > answeredAt && c.key !== fresh)).toEqual([]);
    // And at the end the key the database holds is the SML's, on every instance.
    for (const instance of instances) expect((await collectFrom(instance, number)).key).toBe(fresh);
  };

  it('one instance: 20 concurrent collections, the database ends with the SML’s key', async () => {
    await property([service], datasetNumbers(1)[5][0]);
  });

  itWithServers('DATABASE_URL')('two instances sharing the store: 20 concurrent collections, the database ends with the SML’s key', async () => {
    const second = await startTestService({ sameStoreAs: service, env: { HSMP_SML_RECONCILE_INTERVAL: '0' } });
    try {
      await property([service, second], datasetNumbers(1)[5][1]);
      // Two revocations at once, one on each instance: one at a time, and the SML holds the last.
      const number = datasetNumbers(1)[5][2];
      await collect(number);
      const both = await Promise.all(
        [service, second].map((instance) => instance.admin('POST', `/admin/enterprises/${number}/revoke-key`, { environment: 'test', reason: 'twice' })),
      );
      expect(both.map((r) => r.status)).toEqual([200, 200]);
      expect(both.map((r) => r.json().revoked[0].revocations).sort()).toEqual([1, 2]);
      expect((await collectFrom(second, number)).key).toBe(service.devSml.preparedKey('test', `0208:${number}`));
    } finally {
      await second.stop();
    }
  });
});

describe('rotation by age (HSMP_KEY_MAX_AGE_DAYS=30, controlled clock)', () => {
  it('a key first handed out more than 30 days ago is replaced at its next collection, which hands out the new key', async () => {
    const number = datasetNumbers(1)[5][3];
    const first = (await collect(number)).key;
    clockOffsetMs = 29 * DAY_MS;
    expect((await collect(number)).key).toBe(first);
    clockOffsetMs = 31 * DAY_MS;
    const rotated = await collect(number);
    expect(rotated.status).toBe(200);
    expect(rotated.key).not.toBe(first);
    expect(service.devSml.preparedKey('test', `0208:${number}`)).toBe(rotated.key);
    const rotation = (await auditRows('key-rotate')).find((r) => r.target === `${number}/test`);
    expect(rotation).toMatchObject({ operator: 'key-rotation' });
    expect(rotation.reason).toMatch(/more than HSMP_KEY_MAX_AGE_DAYS \(30\) days ago/);
    expect(rotation.details.result.revokedKey).toMatchObject({ collections: 2, users: ['PBE000001'] });
    // The new key counts its age from now: back on today's clock it stays.
    clockOffsetMs = 0;
    expect((await collect(number)).key).toBe(rotated.key);
  });

  it('SML trouble at rotation: 503, the old key is not handed out, nothing changed', async () => {
    const number = datasetNumbers(1)[5][4];
    const first = (await collect(number)).key;
    const digest = await digestOf(number);
    clockOffsetMs = 31 * DAY_MS;
    service.devSml.fault = 'internal-error';
    const refused = await collect(number);
    expect(refused.status).toBe(503);
    expect(refused.body).not.toContain(first);
    expect((await digestOf(number))?.equals(digest as Buffer)).toBe(true);
    const logged = await service.database.pool.query('SELECT outcome FROM collection_log WHERE enterprise_number = $1 ORDER BY id DESC LIMIT 1', [number]);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the outcome is settled after the answer
    const settled = await service.database.pool.query('SELECT outcome FROM collection_log WHERE enterprise_number = $1 ORDER BY id DESC LIMIT 1', [number]);
    expect([logged.rows.length, settled.rows[0].outcome]).toEqual([1, 'HSMP-999']);
  });
});

describe('the enterprise view', () => {
  it('shows status, per environment migration and key state, recent collections, and never a key', async () => {
    const number = datasetNumbers(1)[1][0]; // collected and revoked above
    const keys = (await service.database.pool.query('SELECT key_ciphertext, key_digest FROM migration_key WHERE enterprise_number = $1', [number])).rows;
    expect(keys.length).toBeGreaterThan(0);
    const current = (await collect(number)).key as string;
    const view = await service.admin('GET', `/admin/enterprises/BE${number.slice(0, 4)}.${number.slice(4, 7)}.${number.slice(7)}`);
    expect(view.status).toBe(200);
    const body = view.json();
    expect(body).toMatchObject({ enterpriseNumber: number, status: 'active' });
    const test = body.environments.find((e: any) => e.environment === 'test');
    expect(test).toMatchObject({ served: true, key: { state: 'prepared', revocations: 1 } });
    expect(body.environments.find((e: any) => e.environment === 'production').key).toEqual({ state: 'none', revocations: 0 });
    expect(body.recentCollections[0]).toMatchObject({ environment: 'test', seatId: 'PBE000001', outcome: '200' });
    const cli = await hsmpAdmin(service, ['enterprise', `0208:${number}`]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`^enterprise ${number}: active, test data\n  test: hsmp's; key prepared, prepared .*, revoked 1 times`));
    // No key, in any form the database holds it, anywhere in the answers.
    for (const text of [view.body, cli.stdout]) {
      expect(text).not.toContain(current);
      for (const k of keys) {
        expect(text).not.toContain(k.key_ciphertext.toString('hex'));
        expect(text).not.toContain(k.key_ciphertext.toString('base64'));
        expect(text).not.toContain(k.key_digest.toString('hex'));
        expect(text).not.toContain(k.key_digest.toString('base64'));
      }
    }
  });
});
