import type pg from 'pg';
import type { Environment } from '../domain/environment';

/**
 * The participant_migration table (migrations/006): in which environments an enterprise's
 * participant has left hsmp (HSMP-013 there, SPEC §9 "Migration is per environment"). The one
 * place that writes it.
 */
export type MigrationSource = 'reconciliation' | 'operator' | 'seed';

export interface ParticipantMigration {
  environment: Environment;
  migratedAt: Date;
  source: MigrationSource | 'before-per-environment';
}

/** Marks the enterprises migrated in these environments; those already marked keep their first mark. */
export async function markMigrated(client: pg.ClientBase, numbers: string[], environments: Environment[], source: MigrationSource): Promise<number> {
  if (numbers.length === 0 || environments.length === 0) return 0;
  const { rowCount } = await client.query(
    `INSERT INTO participant_migration (enterprise_number, environment, source)
     SELECT n, env, $3 FROM unnest($1::char(10)[]) AS n CROSS JOIN unnest($2::text[]) AS env
     ORDER BY n, env
     ON CONFLICT (enterprise_number, environment) DO NOTHING`,
    [numbers, environments, source],
  );
  return rowCount ?? 0;
}

/**
 * The reconciliation's store (SPEC §9): marks these enterprises migrated in `environment`, each
 * only if it is still active, not migrated there yet, and its key there was prepared before the
 * listing began (checked here, inside the caller's transaction: an operator's change or a newer
 * key since the listing began keeps the participant as it is). Returns how many were marked.
 */
export async function markMigratedByReconciliation(client: pg.ClientBase, environment: Environment, numbers: string[], preparedBefore: Date): Promise<number> {
  if (numbers.length === 0) return 0;
  const { rowCount } = await client.query(
    `INSERT INTO participant_migration (enterprise_number, environment, source)
     SELECT k.enterprise_number, k.environment, 'reconciliation'
       FROM migration_key k JOIN enterprise e ON e.enterprise_number = k.enterprise_number
      WHERE k.enterprise_number = ANY($1::char(10)[]) AND k.environment = $2 AND k.prepared_at < $3 AND e.status = 'active'
      ORDER BY k.enterprise_number
     ON CONFLICT (enterprise_number, environment) DO NOTHING`,
    [numbers, environment, preparedBefore],
  );
  return rowCount ?? 0;
}

/**
 * Lifts the migration of these enterprises in these environments; the caller forgets their spent
 * keys first (`forgetSpentKeys`). Returns how many migrations were lifted.
 */
export async function clearMigrations(client: pg.ClientBase, numbers: string[], environments: Environment[]): Promise<number> {
  if (numbers.length === 0 || environments.length === 0) return 0;
  const { rowCount } = await client.query('DELETE FROM participant_migration WHERE enterprise_number = ANY($1::char(10)[]) AND environment = ANY($2::text[])', [
    numbers,
    environments,
  ]);
  return rowCount ?? 0;
}

export async function migrationsOf(client: pg.ClientBase | pg.Pool, enterpriseNumber: string): Promise<ParticipantMigration[]> {
  const { rows } = await client.query<{ environment: Environment; migrated_at: Date; source: ParticipantMigration['source'] }>(
    'SELECT environment, migrated_at, source FROM participant_migration WHERE enterprise_number = $1 ORDER BY environment',
    [enterpriseNumber],
  );
  return rows.map((r) => ({ environment: r.environment, migratedAt: r.migrated_at, source: r.source }));
}
