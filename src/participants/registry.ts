import type pg from 'pg';
import type { CollectionContext } from '../domain/collection-context';
import type { MigrationRecord } from '../domain/migration-record';
import type { BelgianParticipant } from '../domain/participant';
import type { Environment } from '../domain/environment';
import { ConfigError, HsmpError, type HsmpCode } from '../domain/errors';
import type { KeyCipher } from '../store/key-cipher';
import { asDatabaseError } from '../store/database';
import { GroupCommit } from '../batching/group-commit';
import { storableText } from '../store/storable-text';
import type { Logger } from '../log';
import { RefusalLog } from './refusal-log';
import { generateMigrationKey } from './migration-key';
import { belgianParticipant } from './participant-id';

interface Collection {
  participant: BelgianParticipant;
  environment: Environment;
  context: CollectionContext;
}

/**
 * Forgets the keys of these enterprises in the environments where they are migrated: the new SMP
 * used them, so once the migration is lifted the next collection must get a fresh key (and the SML
 * a fresh PrepareToMigrate), never the spent one. Run it before the migration is lifted: while the
 * participant is still migrated it answers 013 and no key is missed, so the two statements need no
 * transaction around them (the demo seeding runs without one).
 */
export async function forgetSpentKeys(client: pg.ClientBase, numbers: string[], environments: Environment[]): Promise<void> {
  if (numbers.length === 0 || environments.length === 0) return;
  await client.query(
    `DELETE FROM migration_key k USING participant_migration m
      WHERE m.enterprise_number = ANY($1::char(10)[]) AND m.environment = ANY($2::text[])
        AND k.enterprise_number = m.enterprise_number AND k.environment = m.environment`,
    [numbers, environments],
  );
}

type CollectedRow = { outcome: string; key_ciphertext: Buffer | null; prepared: boolean; handed_out_at: Date | null };

/** A participant's key as operators see it: never the key. */
export interface KeyState {
  /** generated: issued, the SML does not hold it yet (never handed out); prepared: the SML holds it. */
  state: 'generated' | 'prepared';
  issuedAt: Date;
  preparedAt: Date | null;
  firstHandedOutAt: Date | null;
  revocations: number;
  lastRevokedAt: Date | null;
}

/** A participant's key as a revocation sees it (SPEC §9). */
export interface HeldKey {
  record: MigrationRecord;
  digest: Buffer;
  createdAt: Date;
  /** When the SML accepted it; undefined while it is only generated (never handed out). */
  preparedAt?: Date;
  firstHandedOutAt?: Date;
  /** The participant has left hsmp in this environment: the key is spent. */
  migrated: boolean;
}

/** A key handed out by `collect`, whether the SML already holds it (SPEC §9), and since when it is out. */
export interface CollectedKey {
  record: MigrationRecord;
  prepared: boolean;
  /** When this key was first handed out; undefined until the SML holds it. */
  firstHandedOutAt?: Date;
}

export interface RegistryOptions {
  /** Batches of collections in the database at once; the pool needs one connection each. */
  batchesInFlight: number;
  /** HSMP_SML=off: another system prepares the keys, so a new key counts as prepared. */
  keysPreparedElsewhere: boolean;
  /** Refusals waiting to be logged at most; see RefusalLog. */
  maxPendingRefusals: number;
  onRefusalsLost: (count: number) => void;
  logger: Logger;
}

/**
 * A collection's log row carries the time its request arrived (008), which precedes the issue of
 * the key it created by the time it waited for the database (bounded by the 5 s statement
 * timeout): who had a key is counted from this long before the key's issue.
 */
const REQUEST_BEFORE_ISSUE_SECONDS = 10;

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
  /** The collection log's rows written behind the answer: refusals decided before the lookup, and corrected answers. */
  readonly refusals: RefusalLog;

  constructor(
    private readonly pool: pg.Pool,
    private readonly cipher: KeyCipher,
    private readonly options: RegistryOptions,
  ) {
    const groupOptions = { maxInFlight: options.batchesInFlight, maxBatch: MAX_BATCH };
    this.collections = new GroupCommit((batch) => this.collectBatch(batch), groupOptions);
    this.refusals = new RefusalLog(pool, {
      maxPending: options.maxPendingRefusals,
      onLost: options.onRefusalsLost,
      logger: options.logger,
      maxBatch: MAX_BATCH,
    });
  }

  async collect(participant: BelgianParticipant, environment: Environment, context: CollectionContext): Promise<CollectedKey> {
    let collected: CollectedRow;
    try {
      collected = await this.collections.submit({ participant, environment, context });
    } catch (error) {
      // The batch may have committed with its acknowledgement lost (a timeout): its row would
      // say 200 while this request is answered 503. The row is made to say what was answered.
      this.recordAnswer(context, environment, participant, error);
      throw error;
    }
    const { outcome, key_ciphertext: ciphertext, prepared, handed_out_at: handedOutAt } = collected;
    if (outcome !== '200') throw new HsmpError(outcome as HsmpCode, { participantId: participant.value });
    const row = keyRow(participant, environment);
    if (!ciphertext) throw new Error(`no key stored for ${row} after a 200`);
    return {
      record: { participant, environment, migrationKey: this.cipher.decrypt(ciphertext, row) },
      prepared,
      ...(handedOutAt ? { firstHandedOutAt: handedOutAt } : {}),
    };
  }

  /**
   * The SML holds the key now: mark it prepared (only if it is still the participant's key) and,
   * for a collection (`requestId`), handed out now, and turn the request's 'SML-PENDING' log row
   * into its 200, in one statement. False when the participant's key is no longer this one (a
   * revocation replaced it meanwhile): the key must then not be handed out.
   */
  async markPrepared(record: MigrationRecord, context: CollectionContext | undefined): Promise<boolean> {
    try {
      const { rows } = await this.pool.query<{ current: boolean }>({
        name: 'hsmp_mark_prepared',
        text: `WITH marked AS (
                 UPDATE migration_key SET prepared_at = coalesce(prepared_at, now()),
                        first_handed_out_at = CASE WHEN $4::uuid IS NULL THEN first_handed_out_at ELSE coalesce(first_handed_out_at, now()) END
                  WHERE enterprise_number = $1 AND environment = $2 AND key_digest = $3
                    AND (prepared_at IS NULL OR ($4::uuid IS NOT NULL AND first_handed_out_at IS NULL))
                 RETURNING 1),
               logged AS (
                 UPDATE collection_log SET outcome = '200'
                  WHERE $4::uuid IS NOT NULL AND request_id = $4 AND collected_at = $5 AND outcome = 'SML-PENDING')
               SELECT EXISTS (SELECT 1 FROM marked)
                   OR EXISTS (SELECT 1 FROM migration_key WHERE enterprise_number = $1 AND environment = $2 AND key_digest = $3) AS current`,
        values: [
          record.participant.enterpriseNumber,
          record.environment,
          this.cipher.digest(record.migrationKey),
          context?.requestId ?? null,
          context?.requestedAt ?? null,
        ],
      });
      return rows[0].current;
    } catch (error) {
      throw asDatabaseError(error);
    }
  }

  /**
   * Makes the request's collection-log row say the answer it got when that is not the row's
   * outcome: a key the SML did not take (HSMP-013, 503), an acknowledgement lost to a timeout.
   * Written behind the answer, like a refusal, and retried until the database takes it.
   */
  recordAnswer(context: CollectionContext, environment: Environment, participant: BelgianParticipant, error: unknown): void {
    const outcome = error instanceof HsmpError ? error.code : 'HSMP-999';
    if (!this.refusals.offer({ context, environment, participant: participant.value, outcome })) this.options.onRefusalsLost(1);
  }

  /** The participant's key in `environment` as a revocation sees it; undefined when it has none. */
  async keyOf(participant: BelgianParticipant, environment: Environment): Promise<HeldKey | undefined> {
    const { rows } = await this.pool.query<{
      key_ciphertext: Buffer;
      key_digest: Buffer;
      created_at: Date;
      prepared_at: Date | null;
      first_handed_out_at: Date | null;
      migrated: boolean;
    }>(
      `SELECT k.key_ciphertext, k.key_digest, k.created_at, k.prepared_at, k.first_handed_out_at,
              EXISTS (SELECT 1 FROM participant_migration m WHERE m.enterprise_number = k.enterprise_number AND m.environment = k.environment) AS migrated
         FROM migration_key k WHERE k.enterprise_number = $1 AND k.environment = $2`,
      [participant.enterpriseNumber, environment],
    );
    const row = rows.at(0);
    if (!row) return undefined;
    return {
      record: { participant, environment, migrationKey: this.cipher.decrypt(row.key_ciphertext, keyRow(participant, environment)) },
      digest: row.key_digest,
      createdAt: row.created_at,
      preparedAt: row.prepared_at ?? undefined,
      firstHandedOutAt: row.first_handed_out_at ?? undefined,
      migrated: row.migrated,
    };
  }

  /** What operators may see of an enterprise's keys: their state and times, never a key (nor its digest). */
  async keyStatesOf(enterpriseNumber: string): Promise<Map<Environment, KeyState>> {
    const { rows } = await this.pool.query<{
      environment: Environment;
      created_at: Date;
      prepared_at: Date | null;
      first_handed_out_at: Date | null;
      revocations: number;
      last_revoked_at: Date | null;
    }>('SELECT environment, created_at, prepared_at, first_handed_out_at, revocations, last_revoked_at FROM migration_key WHERE enterprise_number = $1', [
      enterpriseNumber,
    ]);
    return new Map(
      rows.map((r) => [
        r.environment,
        {
          state: r.prepared_at ? 'prepared' : 'generated',
          issuedAt: r.created_at,
          preparedAt: r.prepared_at,
          firstHandedOutAt: r.first_handed_out_at,
          revocations: r.revocations,
          lastRevokedAt: r.last_revoked_at,
        },
      ]),
    );
  }

  digestOf(migrationKey: string): Buffer {
    return this.cipher.digest(migrationKey);
  }

  /**
   * Takes the participant's revocation lease (one revocation at a time across instances, without
   * holding a connection through the SML call). Returns the lease's token, 'held' while another
   * holds it, or 'no-key'. The lease's end is its token, compared again on release: kept to the
   * millisecond, the precision a JavaScript Date carries back (PostgreSQL's microseconds never match).
   */
  async takeRevocationLease(participant: BelgianParticipant, environment: Environment, leaseMs: number): Promise<Date | 'held' | 'no-key'> {
    const { rows } = await this.pool.query<{ lease: Date | null; taken: boolean }>(
      `WITH taken AS (
         UPDATE migration_key SET revocation_lease_until = date_trunc('milliseconds', now() + make_interval(secs => $3::float8 / 1000))
          WHERE enterprise_number = $1 AND environment = $2 AND (revocation_lease_until IS NULL OR revocation_lease_until < now())
         RETURNING revocation_lease_until)
       SELECT (SELECT revocation_lease_until FROM taken) AS lease,
              EXISTS (SELECT 1 FROM migration_key WHERE enterprise_number = $1 AND environment = $2) AS taken`,
      [participant.enterpriseNumber, environment, leaseMs],
    );
    if (rows[0].lease) return rows[0].lease;
    return rows[0].taken ? 'held' : 'no-key';
  }

  async releaseRevocationLease(participant: BelgianParticipant, environment: Environment, token: Date): Promise<void> {
    await this.pool.query(
      'UPDATE migration_key SET revocation_lease_until = NULL WHERE enterprise_number = $1 AND environment = $2 AND revocation_lease_until = $3',
      [participant.enterpriseNumber, environment, token],
    );
  }

  /**
   * Who had the key issued at `since`: the collections of the participant in `environment`
   * answered 200 from then on (the collection log), how many and by which users (seat ids),
   * leaving out the collection `exceptRequestId` (a rotation's own, which gets the new key).
   */
  async collectorsSince(
    tx: pg.ClientBase,
    participant: BelgianParticipant,
    environment: Environment,
    since: Date,
    exceptRequestId?: string,
  ): Promise<{ collections: number; users: string[] }> {
    const { rows } = await tx.query<{ collections: string; users: string[] | null }>(
      `SELECT count(*) AS collections, array_agg(DISTINCT seat_id ORDER BY seat_id) AS users FROM collection_log
        WHERE enterprise_number = $1 AND environment = $2 AND collected_at >= $3::timestamptz - make_interval(secs => ${REQUEST_BEFORE_ISSUE_SECONDS})
          AND outcome = '200'
          AND ($4::uuid IS NULL OR request_id <> $4::uuid)`,
      [participant.enterpriseNumber, environment, since, exceptRequestId ?? null],
    );
    return { collections: Number(rows[0].collections), users: rows[0].users ?? [] };
  }

  /**
   * Puts `fresh` (already prepared at the SML) in the place of the key whose digest is
   * `replacedDigest`, inside the caller's transaction; false when that key is no longer the
   * participant's (undefined then). `handedOutNow`: a rotation hands the new key out at once.
   */
  async replaceKey(
    tx: pg.ClientBase,
    replacedDigest: Buffer,
    fresh: MigrationRecord,
    handedOutNow: boolean,
  ): Promise<{ revocations: number; preparedAt: Date } | undefined> {
    const { participant, environment } = fresh;
    const { rows } = await tx.query<{ revocations: number; prepared_at: Date }>(
      `UPDATE migration_key SET key_ciphertext = $4, key_digest = $5, created_at = now(), prepared_at = now(),
              first_handed_out_at = CASE WHEN $6 THEN now() END, revocations = revocations + 1, last_revoked_at = now(),
              revocation_lease_until = NULL
        WHERE enterprise_number = $1 AND environment = $2 AND key_digest = $3
       RETURNING revocations, prepared_at`,
      [
        participant.enterpriseNumber,
        environment,
        replacedDigest,
        this.cipher.encrypt(fresh.migrationKey, keyRow(participant, environment)),
        this.cipher.digest(fresh.migrationKey),
        handedOutNow,
      ],
    );
    return rows[0] && { revocations: rows[0].revocations, preparedAt: rows[0].prepared_at };
  }

  /**
   * Up to `limit` active enterprises after `after` (enterprise-number order) whose key in this
   * environment the SML does not hold yet, each with its key: a new one is issued here exactly
   * as a first collection would (the primary key decides against a concurrent collection).
   */
  async keysToPrepare(environment: Environment, after: string, limit: number): Promise<{ keys: MigrationRecord[]; next?: string }> {
    const { rows } = await this.pool.query<{ enterprise_number: string }>(
      // Walks the enterprise key from the cursor: the cost of a batch is its own rows at any size.
      // The cursor is repeated inside each NOT EXISTS: PostgreSQL does not carry it across the
      // join, and its merge anti-join otherwise read both other tables from their start (840 ms a
      // batch half-way through 2 million enterprises, 0.3 ms with it).
      `SELECT e.enterprise_number FROM enterprise e
        WHERE e.enterprise_number > $2 AND e.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM migration_key k
                           WHERE k.enterprise_number = e.enterprise_number AND k.enterprise_number > $2 AND k.environment = $1
                             AND k.prepared_at IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM participant_migration m
                           WHERE m.enterprise_number = e.enterprise_number AND m.enterprise_number > $2 AND m.environment = $1)
        ORDER BY e.enterprise_number LIMIT $3`,
      [environment, after, limit],
    );
    if (rows.length === 0) return { keys: [] };
    const participants = rows.map((r) => belgianParticipant(r.enterprise_number));
    const candidates = participants.map((participant) => {
      const candidate = generateMigrationKey();
      return { ciphertext: this.cipher.encrypt(candidate, keyRow(participant, environment)), digest: this.cipher.digest(candidate) };
    });
    const numbers = participants.map((p) => p.enterpriseNumber);
    await this.pool.query(
      `INSERT INTO migration_key (enterprise_number, environment, key_ciphertext, key_digest)
       SELECT n, $1, c, d FROM unnest($2::char(10)[], $3::bytea[], $4::bytea[]) AS t(n, c, d) ORDER BY n
       ON CONFLICT (enterprise_number, environment) DO NOTHING`,
      [environment, numbers, candidates.map((c) => c.ciphertext), candidates.map((c) => c.digest)],
    );
    // A statement of its own, so that it sees the keys concurrent collections committed meanwhile.
    const { rows: keys } = await this.pool.query<{ enterprise_number: string; key_ciphertext: Buffer }>(
      'SELECT enterprise_number, key_ciphertext FROM migration_key WHERE environment = $1 AND enterprise_number = ANY($2::char(10)[]) AND prepared_at IS NULL ORDER BY enterprise_number',
      [environment, numbers],
    );
    return {
      keys: keys.map((k) => {
        const participant = belgianParticipant(k.enterprise_number);
        return { participant, environment, migrationKey: this.cipher.decrypt(k.key_ciphertext, keyRow(participant, environment)) };
      }),
      ...(rows.length === limit ? { next: numbers[numbers.length - 1] } : {}),
    };
  }

  /** Writes the refusals still queued (bounded time) before the pool closes. */
  close(): Promise<void> {
    return this.refusals.close();
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
        text: `SELECT ordinal, outcome, key_ciphertext, prepared, handed_out_at
                 FROM hsmp_collect_many($1::char(10)[], $2::text[], $3::bytea[], $4::bytea[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean,
                                        $11::timestamptz[])`,
        values: [
          batch.map((c) => c.participant.enterpriseNumber),
          batch.map((c) => c.environment),
          candidates.map((c) => c.ciphertext),
          candidates.map((c) => c.digest),
          batch.map((c) => c.context.requestId),
          batch.map((c) => storableText(c.context.seatId)),
          batch.map((c) => c.context.fingerprint),
          batch.map((c) => c.context.clientIp),
          batch.map((c) => c.participant.value),
          this.options.keysPreparedElsewhere,
          batch.map((c) => c.context.requestedAt),
        ],
      });
    } catch (error) {
      throw asDatabaseError(error);
    }
    const answers = new Array<CollectedRow>(batch.length);
    for (const row of result.rows) answers[row.ordinal - 1] = row;
    return answers;
  }

  /** Refuses to run with a key-encryption key other than the one the database was written with. */
  async checkKeyEncryptionKey(): Promise<void> {
    const fingerprint = this.cipher.fingerprint();
    await this.pool.query('INSERT INTO key_encryption_check (digest) VALUES ($1) ON CONFLICT (singleton) DO NOTHING', [fingerprint]);
    const { rows } = await this.pool.query<{ digest: Buffer }>('SELECT digest FROM key_encryption_check');
    if (!rows[0].digest.equals(fingerprint)) {
      throw new ConfigError('HSMP_KEY_ENCRYPTION_KEY is not the key this database was written with');
    }
  }
}

/** The associated data that binds a key's ciphertext to its participant and environment. */
function keyRow(participant: BelgianParticipant, environment: Environment): string {
  return `${participant.enterpriseNumber}/${environment}`;
}
