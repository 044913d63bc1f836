import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freshDatabase } from '../support/throwaway-database';
import { createLogger } from '../../src/log';
import type { Dataset } from '../../src/participants/datasets';
import { withCheckDigits } from '../../src/participants/participant-id';
import { openDatabase, type Database } from '../../src/store/database';
import { migrate, MIGRATIONS_DIR } from '../../src/store/migrate';
import { hsmpAdmin } from '../support/cli';
import { closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';

/**
 * SPEC §9 "Migration is per environment": HSMP-013, mark-migrated and restore act on one
 * environment; deactivation stays the enterprise's. And the data migration (006) that keeps
 * the rows written before it meaning what they meant.
 */
let service: TestService;
let data: Dataset;
const collect = async (number: string, environment: string) => {
  const response = await service.get(`/hermes-rw/migrationKey/${number}?environment=${environment}`, { accept: 'application/json' });
  const body = response.json();
  return response.status === 200 ? { code: '200', key: body.migrationKey as string } : { code: body.code as string };
};

afterAll(async () => {
  await closeAgents();
});

describe('operators act per environment', () => {
  beforeAll(async () => {
    service = await startTestService({ env: { HSMP_SML_RECONCILE_INTERVAL: '0' } });
    data = await seed(service);
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('mark-migrated --environment test: test 013, production keeps its key; restore --environment test: a fresh test key only', async () => {
    const number = data[1][0];
    const test = await collect(number, 'test');
    const production = await collect(number, 'production');
    const marked = await hsmpAdmin(service, ['mark-migrated', number, '--environment', 'test', '--reason', 'rehearsal']);
    expect(marked.stdout).toBe(`enterprise ${number} marked migrated (HSMP-013) in test: was active; now active, migrated in test\n`);
    expect(await collect(number, 'test')).toEqual({ code: 'HSMP-013' });
    expect(await collect(number, 'production')).toEqual(production);

    expect((await hsmpAdmin(service, ['restore', number, '--environment', 'test'])).code).toBe(0);
    const fresh = await collect(number, 'test');
    expect(fresh.code).toBe('200');
    expect(fresh.key).not.toBe(test.key); // the spent test key is forgotten
    expect(await collect(number, 'production')).toEqual(production);
  });

  it('without --environment: every environment served; restore --environment production lifts production only', async () => {
    const number = data[1][1];
    const json = JSON.parse((await hsmpAdmin(service, ['--json', 'mark-migrated', number])).stdout);
    expect(json).toMatchObject({ enterpriseNumber: number, environments: ['test', 'production'], after: { status: 'active' } });
    expect([...json.after.migratedIn].sort()).toEqual(['production', 'test']);
    expect([(await collect(number, 'test')).code, (await collect(number, 'production')).code]).toEqual(['HSMP-013', 'HSMP-013']);
    expect((await hsmpAdmin(service, ['restore', number, '--environment', 'production'])).code).toBe(0);
    expect([(await collect(number, 'test')).code, (await collect(number, 'production')).code]).toEqual(['HSMP-013', '200']);
    const audit = (await service.admin('GET', `/admin/audit?operator=tester&limit=2`)).json().entries;
    expect(audit.map((e: any) => [e.action, e.details.environments])).toEqual([
      ['enterprise-restore', ['production']],
      ['enterprise-mark-migrated', ['test', 'production']],
    ]);
  });

  it("remove is the enterprise's: 012 in every environment, and a restore of one environment does not lift it", async () => {
    const number = data[5][0];
    expect((await hsmpAdmin(service, ['remove', number])).code).toBe(0);
    expect([(await collect(number, 'test')).code, (await collect(number, 'production')).code]).toEqual(['HSMP-012', 'HSMP-012']);
    expect((await hsmpAdmin(service, ['restore', number, '--environment', 'test'])).stdout).toMatch(/now inactive\n$/);
    expect((await collect(number, 'test')).code).toBe('HSMP-012');
    expect((await hsmpAdmin(service, ['restore', number])).code).toBe(0);
    expect([(await collect(number, 'test')).code, (await collect(number, 'production')).code]).toEqual(['200', '200']);
  });

  it('seeded type 2 is migrated in every environment served', async () => {
    for (const number of data[2].slice(0, 3))
      expect([(await collect(number, 'test')).code, (await collect(number, 'production')).code]).toEqual(['HSMP-013', 'HSMP-013']);
  });

  it('an environment this deployment does not serve, or none at all: 400, nothing changed', async () => {
    const single = await startTestService({ env: { HSMP_ENVIRONMENTS: 'test', HSMP_SML_RECONCILE_INTERVAL: '0' } });
    try {
      await seed(single);
      const refused = await single.admin('POST', `/admin/enterprises/${data[1][2]}/mark-migrated`, { environment: 'production' });
      expect(refused.status).toBe(400);
      expect(refused.json().detail).toMatch(/production is not served/);
      expect((await single.admin('POST', `/admin/enterprises/${data[1][2]}/mark-migrated`, { environment: 'moon' })).status).toBe(400);
      const migrations = await single.database.pool.query('SELECT environment FROM participant_migration WHERE enterprise_number = $1', [data[1][2]]);
      expect(migrations.rows).toEqual([]);
      // Seeded type 2 in a test-only deployment: migrated in test.
      const type2 = await single.database.pool.query('SELECT environment FROM participant_migration WHERE enterprise_number = $1', [data[2][0]]);
      expect(type2.rows).toEqual([{ environment: 'test' }]);
    } finally {
      await single.stop();
    }
  });
});

describe('the data migration keeps existing rows meaning what they meant', () => {
  let database: Database | undefined;
  let cleanup: () => Promise<void> = async () => undefined;
  afterAll(async () => {
    await database?.close();
    await cleanup();
  });

  it('an enterprise migrated before 006 is migrated in every environment after it; the rest unchanged; first handing out from the log', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-migrations-'));
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-migration-db-'));
    let dropDatabase: (() => Promise<void>) | undefined;
    let databaseUrl: string | undefined;
    if (process.env.DATABASE_URL) {
      const created = await freshDatabase(process.env.DATABASE_URL, `hsmp_test_${randomBytes(6).toString('hex')}`);
      databaseUrl = created.url;
      dropDatabase = created.drop;
    }
    cleanup = async () => {
      await dropDatabase?.();
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    };
    database = await openDatabase({ databaseUrl, dataDir, logger: createLogger('silent') });
    const before = readdirSync(MIGRATIONS_DIR).filter((f) => f < '006_sml_state_per_environment.sql' && f.endsWith('.sql'));
    for (const file of before) copyFileSync(path.join(MIGRATIONS_DIR, file), path.join(dir, file));
    await migrate(database, dir);

    const [migrated, removedThenMigrated, seededMigrated, active, inactive] = [1, 2, 3, 4, 5].map((i) => withCheckDigits(`0${i}000000`));
    const pool = database.pool;
    await pool.query(
      `INSERT INTO enterprise (enterprise_number, status, removed_by_operator, test_data, updated_at) VALUES
         ($1, 'migrated', false, false, '2026-01-02T03:04:05Z'), ($2, 'migrated', true, false, now()), ($3, 'migrated', false, true, now()),
         ($4, 'active', false, false, now()), ($5, 'inactive', true, false, now())`,
      [migrated, removedThenMigrated, seededMigrated, active, inactive],
    );
    await pool.query(
      `INSERT INTO migration_key (enterprise_number, environment, key_ciphertext, key_digest, prepared_at) VALUES
         ($1, 'test', '\\x01', '\\x01', now()), ($2, 'test', '\\x02', '\\x02', now()), ($2, 'production', '\\x03', '\\x03', NULL)`,
      [migrated, active],
    );
    await pool.query(
      `INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, enterprise_number, outcome)
       VALUES (gen_random_uuid(), '2026-03-01T00:00:00Z', 'PBE1', 'f', '127.0.0.1', 'test', $1::text, $1::char(10), '200'),
              (gen_random_uuid(), '2026-02-01T00:00:00Z', 'PBE1', 'f', '127.0.0.1', 'test', $1::text, $1::char(10), '200'),
              (gen_random_uuid(), '2026-01-01T00:00:00Z', 'PBE1', 'f', '127.0.0.1', 'production', $1::text, $1::char(10), '200')`,
      [active],
    );

    const applied = await migrate(database);
    expect(applied[0]).toBe('006_sml_state_per_environment.sql');
    const enterprises = await pool.query('SELECT enterprise_number, status, removed_by_operator FROM enterprise ORDER BY enterprise_number');
    expect(enterprises.rows).toEqual([
      { enterprise_number: migrated, status: 'active', removed_by_operator: false },
      { enterprise_number: removedThenMigrated, status: 'active', removed_by_operator: false },
      { enterprise_number: seededMigrated, status: 'active', removed_by_operator: false },
      { enterprise_number: active, status: 'active', removed_by_operator: false },
      { enterprise_number: inactive, status: 'inactive', removed_by_operator: true },
    ]);
    const migrations = await pool.query('SELECT enterprise_number, environment, migrated_at, source FROM participant_migration ORDER BY 1, 2');
    expect(migrations.rows.map((r) => [r.enterprise_number, r.environment, r.source])).toEqual([
      [migrated, 'production', 'before-per-environment'],
      [migrated, 'test', 'before-per-environment'],
      [removedThenMigrated, 'production', 'before-per-environment'],
      [removedThenMigrated, 'test', 'before-per-environment'],
      [seededMigrated, 'production', 'seed'],
      [seededMigrated, 'test', 'seed'],
    ]);
    expect(migrations.rows[0].migrated_at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    const keys = await pool.query('SELECT enterprise_number, environment, first_handed_out_at, revocations FROM migration_key ORDER BY 1, 2');
    expect(keys.rows.map((r) => [r.enterprise_number, r.environment, r.first_handed_out_at?.toISOString() ?? null, r.revocations])).toEqual([
      [migrated, 'test', null, 0],
      [active, 'production', null, 0], // never prepared: never handed out
      [active, 'test', '2026-02-01T00:00:00.000Z', 0],
    ]);
    await expect(pool.query("UPDATE enterprise SET status = 'migrated' WHERE enterprise_number = $1", [active])).rejects.toThrow(/enterprise_status_check/);
  });
});
