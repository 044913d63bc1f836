import type pg from 'pg';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { DATASET_TYPES, SEEDED_AS, type Dataset } from './datasets';
import { clearMigrations, markMigrated, migrationsOf } from './participant-migrations';

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
    await clearMigrations(client, [enterpriseNumber], environments);
  });
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
    else await clearMigrations(client, numbers, [...ENVIRONMENTS]);
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
