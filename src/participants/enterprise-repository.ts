import type pg from 'pg';
import { DATASET_TYPES, STATUS_OF_TYPE, type Dataset } from './datasets';

/** The enterprise table as operators and seeding change it (the hot path reads it in SQL functions). */
export type EnterpriseStatus = 'active' | 'inactive' | 'migrated';
export type EnterpriseAction = 'remove' | 'mark-migrated' | 'restore';

const ACTION_SQL: Record<EnterpriseAction, string> = {
  remove: "status = 'inactive', removed_by_operator = true",
  'mark-migrated': "status = 'migrated'",
  restore: "status = 'active', removed_by_operator = false",
};

/** Operator changes to one enterprise; undefined when hsmp does not hold it. */
export async function changeEnterprise(
  client: pg.ClientBase,
  enterpriseNumber: string,
  action: EnterpriseAction,
): Promise<{ before: EnterpriseStatus; after: EnterpriseStatus } | undefined> {
  const { rows } = await client.query<{ before: EnterpriseStatus; after: EnterpriseStatus }>(
    `UPDATE enterprise e SET ${ACTION_SQL[action]}, updated_at = now()
       FROM (SELECT enterprise_number, status FROM enterprise WHERE enterprise_number = $1 FOR UPDATE) old
      WHERE e.enterprise_number = old.enterprise_number
      RETURNING old.status AS before, e.status AS after`,
    [enterpriseNumber],
  );
  // A migrated enterprise's key was used by its new SMP: restored, it gets a fresh key (and the
  // SML a fresh PrepareToMigrate) on its next collection, never the spent one.
  if (rows[0]?.before === 'migrated' && rows[0].after === 'active')
    await client.query('DELETE FROM migration_key WHERE enterprise_number = $1', [enterpriseNumber]);
  return rows[0];
}

export async function getEnterprise(
  pool: pg.Pool,
  enterpriseNumber: string,
): Promise<{ status: EnterpriseStatus; removedByOperator: boolean; updatedAt: Date } | undefined> {
  const { rows } = await pool.query<{ status: EnterpriseStatus; removed_by_operator: boolean; updated_at: Date }>(
    'SELECT status, removed_by_operator, updated_at FROM enterprise WHERE enterprise_number = $1',
    [enterpriseNumber],
  );
  return rows[0] && { status: rows[0].status, removedByOperator: rows[0].removed_by_operator, updatedAt: rows[0].updated_at };
}

/** Writes the datasets' enterprises with the status of their type; invalid ones (type 4) stay absent. */
export async function seedDatasets(client: pg.ClientBase, datasets: Dataset[]): Promise<number> {
  for (const type of DATASET_TYPES) {
    const status = STATUS_OF_TYPE[type];
    if (status)
      await upsertEnterprises(
        client,
        datasets.flatMap((d) => d[type]),
        status,
      );
  }
  return datasets.length;
}

/** Writes enterprises with the given status, resetting any operator change (dataset recycling). */
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
