import type pg from 'pg';
import type { MigrationRecord } from '../collection/flow';
import type { Environment } from '../domain/environment';
import { HsmpError, type HsmpCode } from '../domain/errors';
import type { KeyCipher } from '../store/key-cipher';
import { asDatabaseError } from '../store/database';
import { DATASET_TYPES, STATUS_OF_TYPE, type Dataset } from './datasets';
import { generateMigrationKey } from './migration-key';
import type { BelgianParticipant } from './participant-id';

/** Who asked, for the collection log. */
export interface CollectionContext {
  requestId: string;
  seatId: string;
  fingerprint: string;
  clientIp: string;
}

/**
 * The participants hsmp holds and their migration keys. `collect` is the hot path: one call
 * of hsmp_collect (migrations/001), one round trip, with a freshly drawn candidate key that
 * the database keeps only if the participant has none yet.
 */
export class ParticipantRegistry {
  constructor(
    private readonly pool: pg.Pool,
    private readonly cipher: KeyCipher,
  ) {}

  async collect(participant: BelgianParticipant, environment: Environment, context: CollectionContext): Promise<MigrationRecord> {
    const row = `${participant.enterpriseNumber}/${environment}`;
    const candidate = generateMigrationKey();
    let result: pg.QueryResult<{ outcome: string; key_ciphertext: Buffer | null }>;
    try {
      result = await this.pool.query({
        name: 'hsmp_collect',
        text: 'SELECT outcome, key_ciphertext FROM hsmp_collect($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        values: [
          participant.enterpriseNumber,
          environment,
          this.cipher.encrypt(candidate, row),
          this.cipher.digest(candidate),
          context.requestId,
          context.seatId,
          context.fingerprint,
          context.clientIp,
          participant.value,
        ],
      });
    } catch (error) {
      throw asDatabaseError(error);
    }
    const { outcome, key_ciphertext: ciphertext } = result.rows[0];
    if (outcome !== '200') throw new HsmpError(outcome as HsmpCode, { participantId: participant.value });
    if (!ciphertext) throw new Error(`no key stored for ${row} after a 200`);
    return { participant, environment, migrationKey: this.cipher.decrypt(ciphertext, row) };
  }

  /** Logs a refusal decided before the lookup (010, 001 for garbage, quota refusals). */
  async recordRefusal(context: CollectionContext, environment: string, participant: string, outcome: string): Promise<void> {
    await this.pool.query({
      name: 'hsmp_log_refusal',
      text: `INSERT INTO collection_log (request_id, seat_id, certificate_fingerprint, client_ip, environment, participant, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      values: [context.requestId, context.seatId, context.fingerprint, context.clientIp, environment.slice(0, 32), participant.slice(0, 256), outcome],
    });
  }

  /** Refuses to run with a key-encryption key other than the one the database was written with. */
  async checkKeyEncryptionKey(): Promise<void> {
    const fingerprint = this.cipher.fingerprint();
    await this.pool.query('INSERT INTO key_encryption_check (digest) VALUES ($1) ON CONFLICT (singleton) DO NOTHING', [fingerprint]);
    const { rows } = await this.pool.query<{ digest: Buffer }>('SELECT digest FROM key_encryption_check');
    if (!rows[0].digest.equals(fingerprint)) {
      throw new Error('HSMP_KEY_ENCRYPTION_KEY is not the key this database was written with');
    }
  }
}

export type EnterpriseStatus = 'active' | 'inactive' | 'migrated';
export type EnterpriseAction = 'remove' | 'mark-migrated' | 'restore';

const ACTION_SQL: Record<EnterpriseAction, string> = {
  remove: "status = 'inactive', removed_by_operator = true",
  'mark-migrated': "status = 'migrated'",
  restore: "status = 'active', removed_by_operator = false",
};

/** Operator changes to one enterprise; undefined when hsmp does not hold it. */
export async function changeEnterprise(client: pg.ClientBase, enterpriseNumber: string, action: EnterpriseAction): Promise<{ before: EnterpriseStatus; after: EnterpriseStatus } | undefined> {
  const { rows } = await client.query<{ before: EnterpriseStatus; after: EnterpriseStatus }>(
    `UPDATE enterprise e SET ${ACTION_SQL[action]}, updated_at = now()
       FROM (SELECT enterprise_number, status FROM enterprise WHERE enterprise_number = $1 FOR UPDATE) old
      WHERE e.enterprise_number = old.enterprise_number
      RETURNING old.status AS before, e.status AS after`,
    [enterpriseNumber],
  );
  return rows[0];
}

export async function getEnterprise(pool: pg.Pool, enterpriseNumber: string): Promise<{ status: EnterpriseStatus; removedByOperator: boolean; updatedAt: Date } | undefined> {
  const { rows } = await pool.query('SELECT status, removed_by_operator, updated_at FROM enterprise WHERE enterprise_number = $1', [enterpriseNumber]);
  return rows[0] && { status: rows[0].status, removedByOperator: rows[0].removed_by_operator, updatedAt: rows[0].updated_at };
}

/** Writes the datasets' enterprises with the status of their type; invalid ones (type 4) stay absent. */
export async function seedDatasets(client: pg.ClientBase, datasets: Dataset[]): Promise<number> {
  for (const type of DATASET_TYPES) {
    const status = STATUS_OF_TYPE[type];
    if (status) await upsertEnterprises(client, datasets.flatMap((d) => d[type]), status);
  }
  return datasets.length;
}

/** Writes enterprises with the given status, resetting any operator change (dataset recycling). */
async function upsertEnterprises(client: pg.ClientBase, numbers: string[], status: EnterpriseStatus): Promise<void> {
  if (numbers.length === 0) return;
  await client.query(
    `INSERT INTO enterprise (enterprise_number, status) SELECT unnest($1::text[]), $2
     ON CONFLICT (enterprise_number) DO UPDATE SET status = EXCLUDED.status, removed_by_operator = false, updated_at = now()
     WHERE enterprise.status <> EXCLUDED.status OR enterprise.removed_by_operator`,
    [numbers, status],
  );
}
