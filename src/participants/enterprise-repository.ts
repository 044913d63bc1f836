import type pg from 'pg';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { DATASET_TYPES, SEEDED_AS, type Dataset } from './datasets';
import { clearMigrations, markMigrated, migrationsOf } from './participant-migrations';
import { forgetSpentKeys } from './registry';

/**
 * The enterprise table as operators and seeding change it (the hot path reads it in SQL
 * functions). Its status is the enterprise's (CBE dump, operator removal: every environment);
 * whether its participant has migrated is per environment (participant-migrations).
 */
export type EnterpriseStatus = 'active' | 'inactive';

export interface EnterpriseState {
  status: EnterpriseStatus;
  removedByOperator: boolean;
  /** The environments in which the participant has left hsmp (HSMP-013 there). */
  migratedIn: Environment[];
}

export interface EnterpriseChange {
  before: EnterpriseState;
  after: EnterpriseState;
}

/** Operator removal: inactive (HSMP-012) in every environment, and it survives CBE imports until restored. */
export function removeEnterprise(client: pg.ClientBase, enterpriseNumber: string): Promise<EnterpriseChange | undefined> {
  return change(client, enterpriseNumber, async () => {
    await client.query("UPDATE enterprise SET status = 'inactive', removed_by_operator = true, updated_at = now() WHERE enterprise_number = $1", [
      enterpriseNumber,
    ]);
  });
}

/** Migrated (HSMP-013) in these environments; an inactive enterprise still answers 012 first. */
export function markEnterpriseMigrated(client: pg.ClientBase, enterpriseNumber: string, environments: Environment[]): Promise<EnterpriseChange | undefined> {
  return change(client, enterpriseNumber, async () => {
    await markMigrated(client, [enterpriseNumber], environments, 'operator');
  });
}

/**
 * Hsmp's again in these environments (their spent keys forgotten). Restoring the enterprise as a
 * whole (`wholeEnterprise`: no environment named) also lifts its deactivation.
 */
export function restoreEnterprise(
  client: pg.ClientBase,
  enterpriseNumber: string,
  environments: Environment[],
  wholeEnterprise: boolean,
): Promise<EnterpriseChange | undefined> {
  return change(client, enterpriseNumber, async () => {
    if (wholeEnterprise)
      await client.query("UPDATE enterprise SET status = 'active', removed_by_operator = false, updated_at = now() WHERE enterprise_number = $1", [
        enterpriseNumber,
      ]);
    await liftMigrations(client, [enterpriseNumber], environments);
  });
}

/** Hsmp's again in these environments: the spent keys forgotten first, then the migrations lifted. */
async function liftMigrations(client: pg.ClientBase, numbers: string[], environments: Environment[]): Promise<void> {
  await forgetSpentKeys(client, numbers, environments);
  await clearMigrations(client, numbers, environments);
}

/** Locks the enterprise row (operators serialise on it), applies the change, says before and after. */
async function change(client: pg.ClientBase, enterpriseNumber: string, apply: () => Promise<void>): Promise<EnterpriseChange | undefined> {
  const before = await stateOf(client, enterpriseNumber, true);
  if (!before) return undefined;
  await apply();
  const after = (await stateOf(client, enterpriseNumber, false)) ?? before;
  return { before, after };
}

async function stateOf(client: pg.ClientBase | pg.Pool, enterpriseNumber: string, lock: boolean): Promise<EnterpriseState | undefined> {
  const { rows } = await client.query<{ status: EnterpriseStatus; removed_by_operator: boolean }>(
    `SELECT status, removed_by_operator FROM enterprise WHERE enterprise_number = $1${lock ? ' FOR UPDATE' : ''}`,
    [enterpriseNumber],
  );
  if (!rows[0]) return undefined;
  const migratedIn = (await migrationsOf(client, enterpriseNumber)).map((m) => m.environment);
  return { status: rows[0].status, removedByOperator: rows[0].removed_by_operator, migratedIn };
}

export async function getEnterprise(
  pool: pg.Pool,
  enterpriseNumber: string,
): Promise<{ status: EnterpriseStatus; removedByOperator: boolean; testData: boolean; updatedAt: Date } | undefined> {
  const { rows } = await pool.query<{ status: EnterpriseStatus; removed_by_operator: boolean; test_data: boolean; updated_at: Date }>(
    'SELECT status, removed_by_operator, test_data, updated_at FROM enterprise WHERE enterprise_number = $1',
    [enterpriseNumber],
  );
  return rows[0] && { status: rows[0].status, removedByOperator: rows[0].removed_by_operator, testData: rows[0].test_data, updatedAt: rows[0].updated_at };
}

/**
 * Writes the datasets' enterprises as their type says, resetting any operator change (dataset
 * recycling); invalid ones (type 4) stay absent. Migrated ones (type 2) are migrated in every
 * environment served; the others are migrated in none.
 */
export async function seedDatasets(client: pg.ClientBase, datasets: Dataset[], servedEnvironments: Environment[]): Promise<number> {
  for (const type of DATASET_TYPES) {
    const seededAs = SEEDED_AS[type];
    if (!seededAs) continue;
    const numbers = datasets.flatMap((d) => d[type]);
    await upsertEnterprises(client, numbers, seededAs === 'inactive' ? 'inactive' : 'active');
    if (seededAs === 'migrated') await markMigrated(client, numbers, servedEnvironments, 'seed');
    else await liftMigrations(client, numbers, [...ENVIRONMENTS]);
  }
  return datasets.length;
}

async function upsertEnterprises(client: pg.ClientBase, numbers: string[], status: EnterpriseStatus): Promise<void> {
  if (numbers.length === 0) return;
  await client.query(
    `INSERT INTO enterprise (enterprise_number, status, test_data) SELECT unnest($1::text[]), $2, true
     ON CONFLICT (enterprise_number) DO UPDATE SET status = EXCLUDED.status, removed_by_operator = false, test_data = true, updated_at = now()
     WHERE enterprise.status <> EXCLUDED.status OR enterprise.removed_by_operator OR NOT enterprise.test_data`,
    [numbers, status],
  );
}

/** Whether the registry holds any enterprise at all (a development deployment seeds its demo only into an empty one). */
export async function hasEnterprises(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM enterprise) AS any');
  return rows[0].any;
}

/**
 * The CBE import's merge of its staged numbers (kbo_listed, in the importer's transaction).
 * One statement, one pass over both tables: the full join finds what to add, deactivate and
 * reactivate, and the same statement applies it. The dump reader has refused repeated
 * numbers, and the lock keeps other writers (operators, seeding, a second import) out until
 * commit, so the added numbers cannot collide; the hot path only reads enterprise and is not
 * blocked. The safety valve is judged on what the statement did: refusing rolls it back.
 * Seeded test participants (test_data) are not CBE data: never deactivated, never counted.
 */
const MERGE_CBE_LISTING = `
  WITH diff AS MATERIALIZED (
    SELECT coalesce(l.enterprise_number, e.enterprise_number) AS enterprise_number,
           CASE WHEN e.enterprise_number IS NULL THEN 'add'
                WHEN l.enterprise_number IS NULL THEN 'deactivate'
                ELSE 'reactivate' END AS action
      FROM kbo_listed l FULL JOIN enterprise e ON e.enterprise_number = l.enterprise_number
     WHERE e.enterprise_number IS NULL
        OR (l.enterprise_number IS NULL AND e.status = 'active' AND NOT e.test_data)
        OR (l.enterprise_number IS NOT NULL AND e.status = 'inactive' AND NOT e.removed_by_operator)
  ), added AS (
    INSERT INTO enterprise (enterprise_number, status) SELECT enterprise_number, 'active' FROM diff WHERE action = 'add'
  ), changed AS (
    UPDATE enterprise e SET status = CASE d.action WHEN 'deactivate' THEN 'inactive' ELSE 'active' END, updated_at = now()
      FROM diff d WHERE d.action <> 'add' AND e.enterprise_number = d.enterprise_number
    RETURNING d.action
  )
  SELECT (SELECT count(*) FROM diff WHERE action = 'add') AS added,
         (SELECT count(*) FROM changed WHERE action = 'deactivate') AS deactivated,
         (SELECT count(*) FROM changed WHERE action = 'reactivate') AS reactivated,
         before.active, before.held
    FROM (SELECT count(*) FILTER (WHERE status = 'active') AS active, count(*) AS held FROM enterprise WHERE NOT test_data) before`;

export interface CbeMerge {
  added: number;
  deactivated: number;
  reactivated: number;
  /** Active and held enterprises before the merge (seeded test data left out). */
  active: number;
  held: number;
}

export async function mergeCbeListing(client: pg.ClientBase): Promise<CbeMerge> {
  await client.query('LOCK TABLE enterprise IN SHARE ROW EXCLUSIVE MODE');
  const { rows } = await client.query<Record<keyof CbeMerge, string>>(MERGE_CBE_LISTING);
  const [added, deactivated, reactivated, active, held] = (['added', 'deactivated', 'reactivated', 'active', 'held'] as const).map((k) => Number(rows[0][k]));
  return { added, deactivated, reactivated, active, held };
}
