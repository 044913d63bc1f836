import type pg from 'pg';
import type { MigrationRecord } from '../collection/flow';
import type { Environment } from '../domain/environment';
import { HsmpError, type HsmpCode } from '../domain/errors';
import type { KeyCipher } from '../store/key-cipher';
import { asDatabaseError } from '../store/database';
import { GroupCommit } from '../store/group-commit';
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

interface Collection {
  participant: BelgianParticipant;
  environment: Environment;
  context: CollectionContext;
}

interface Refusal {
  context: CollectionContext;
  environment: string;
  participant: string;
  outcome: string;
}

type CollectedRow = { outcome: string; key_ciphertext: Buffer | null };

export interface RegistryOptions {
  /** Batches of collections in the database at once; the pool needs one connection each. */
  batchesInFlight: number;
}

/** Bounds one hsmp_collect_many call well inside the statement timeout. */
const MAX_BATCH = 256;

/**
 * The participants hsmp holds and their migration keys. `collect` is the hot path: the
 * collections that arrive while earlier ones are in the database leave together as one call of
 * hsmp_collect_many (migrations/003), one round trip and one commit for the whole batch, each
 * with a freshly drawn candidate key that the database keeps only if the participant has none
 * yet. A collection answers only after its batch has committed, so a 200 is durable first.
 */
export class ParticipantRegistry {
  private readonly collections: GroupCommit<Collection, CollectedRow>;
  private readonly refusals: GroupCommit<Refusal, void>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly cipher: KeyCipher,
    options: RegistryOptions,
  ) {
    const groupOptions = { maxInFlight: options.batchesInFlight, maxBatch: MAX_BATCH };
    this.collections = new GroupCommit((batch) => this.collectBatch(batch), groupOptions);
    this.refusals = new GroupCommit((batch) => this.logRefusals(batch), groupOptions);
  }

  async collect(participant: BelgianParticipant, environment: Environment, context: CollectionContext): Promise<MigrationRecord> {
    const { outcome, key_ciphertext: ciphertext } = await this.collections.submit({ participant, environment, context });
    if (outcome !== '200') throw new HsmpError(outcome as HsmpCode, { participantId: participant.value });
    const row = keyRow(participant, environment);
    if (!ciphertext) throw new Error(`no key stored for ${row} after a 200`);
    return { participant, environment, migrationKey: this.cipher.decrypt(ciphertext, row) };
  }

  /** Logs a refusal decided before the lookup (010, 001 for garbage, quota refusals). */
  recordRefusal(context: CollectionContext, environment: string, participant: string, outcome: string): Promise<void> {
    return this.refusals.submit({ context, environment: environment.slice(0, 32), participant: participant.slice(0, 256), outcome });
  }

  private async collectBatch(batch: Collection[]): Promise<CollectedRow[]> {
    const candidates = batch.map(({ participant, environment }) => {
      const candidate = generateMigrationKey();
      return { ciphertext: this.cipher.encrypt(candidate, keyRow(participant, environment)), digest: this.cipher.digest(candidate) };
    });
    let result: pg.QueryResult<CollectedRow & { ordinal: number }>;
    try {
      result = await this.pool.query({
        name: 'hsmp_collect_many',
        text: `SELECT ordinal, outcome, key_ciphertext
                 FROM hsmp_collect_many($1::char(10)[], $2::text[], $3::bytea[], $4::bytea[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[])`,
        values: [
          batch.map((c) => c.participant.enterpriseNumber),
          batch.map((c) => c.environment),
          candidates.map((c) => c.ciphertext),
          candidates.map((c) => c.digest),
          batch.map((c) => c.context.requestId),
          batch.map((c) => c.context.seatId),
          batch.map((c) => c.context.fingerprint),
          batch.map((c) => c.context.clientIp),
          batch.map((c) => c.participant.value),
        ],
      });
    } catch (error) {
      throw asDatabaseError(error);
    }
    const answers: CollectedRow[] = new Array(batch.length);
    for (const row of result.rows) answers[row.ordinal - 1] = row;
    return answers;
  }

  private async logRefusals(batch: Refusal[]): Promise<void[]> {
    await this.pool.query({
      name: 'hsmp_log_refusals',
      text: `INSERT INTO collection_log (request_id, seat_id, certificate_fingerprint, client_ip, environment, participant, outcome)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
      values: [
        batch.map((r) => r.context.requestId),
        batch.map((r) => r.context.seatId),
        batch.map((r) => r.context.fingerprint),
        batch.map((r) => r.context.clientIp),
        batch.map((r) => r.environment),
        batch.map((r) => r.participant),
        batch.map((r) => r.outcome),
      ],
    });
    return new Array<void>(batch.length);
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

/** The associated data that binds a key's ciphertext to its participant and environment. */
function keyRow(participant: BelgianParticipant, environment: Environment): string {
  return `${participant.enterpriseNumber}/${environment}`;
}
