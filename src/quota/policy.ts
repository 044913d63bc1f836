import type pg from 'pg';
import type { Environment } from '../domain/environment';
import type { Logger } from '../log';
import type { CounterKind } from './counters';

/**
 * Blocks and scheduled allowances: PostgreSQL is the source of truth (a restart or a Redis
 * flush lifts nothing); each instance keeps a copy that it reloads every `refreshMs`, so the
 * hot path asks no database for them. A block this instance writes is in its copy at once; a
 * change an operator makes through it is, once committed, by the `refresh` its caller runs
 * after COMMIT (a change rolled back is never in force, not even for a moment); other
 * instances see either within `refreshMs`.
 */
export interface Block {
  id: number;
  kind: CounterKind;
  subject: string;
  blockedAt: Date;
  reason: string;
}

export interface Allowance {
  id: number;
  seatId: string;
  environment: Environment;
  dailyLimit: number;
  validFrom: Date;
  validTo: Date;
  grantedBy: string;
  reason: string | null;
}

export class QuotaPolicy {
  private blocks = new Map<string, Block>();
  private allowances: Allowance[] = [];
  private timer?: NodeJS.Timeout;
  /**
   * Every read of the tables takes the next number, and a read that ends after a newer read is
   * in the copy is dropped. Without it a periodic read that began before an operator's lift
   * committed, and ended after the lift's own refresh, put the lifted block back for up to
   * `refreshMs` (seen as a flaky test: `reactivate ip`, then 813 again).
   */
  private issued = 0;
  private applied = 0;
  /** Blocks this instance wrote, with the number current then: a read that began before may lack them. */
  private written: Array<{ after: number; block: Block }> = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly refreshMs = 2000,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) => {
        this.logger.warn({ err: error }, 'could not reload blocks and allowances; keeping the last known');
      });
    }, this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  isBlocked(kind: CounterKind, subject: string): boolean {
    return this.blocks.has(blockKey(kind, subject));
  }

  /** The user's daily limit at `now`: the highest allowance in force, else the default. */
  userLimit(seatId: string, environment: Environment, now: Date, defaultLimit: number): number {
    let limit = defaultLimit;
    for (const a of this.allowances) {
      if (a.seatId === seatId && a.environment === environment && a.validFrom <= now && now < a.validTo) limit = Math.max(limit, a.dailyLimit);
    }
    return limit;
  }

  /** Records a block in force (idempotent: concurrent refusals write one row). */
  async block(kind: CounterKind, subject: string, reason: string): Promise<void> {
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `INSERT INTO block (kind, subject, reason) VALUES ($1, $2, $3)
       ON CONFLICT (kind, subject) WHERE lifted_at IS NULL DO NOTHING
       RETURNING id, kind, subject, blocked_at, reason`,
      [kind, subject, reason],
    );
    if (rows[0]) this.remember(toBlock(rows[0]));
  }

  /** Lifts the block in force on a subject, in the caller's transaction; false when there was none. */
  async lift(client: pg.ClientBase, kind: CounterKind, subject: string, operator: string, reason: string | undefined): Promise<boolean> {
    const { rowCount } = await client.query(
      'UPDATE block SET lifted_at = now(), lifted_by = $3, lift_reason = $4 WHERE kind = $1 AND subject = $2 AND lifted_at IS NULL',
      [kind, subject, operator, reason ?? null],
    );
    return (rowCount ?? 0) > 0;
  }

  async listBlocks(): Promise<Block[]> {
    const { rows } = await this.pool.query('SELECT id, kind, subject, blocked_at, reason FROM block WHERE lifted_at IS NULL ORDER BY blocked_at');
    return rows.map(toBlock);
  }

  async grant(client: pg.ClientBase, grant: Omit<Allowance, 'id'>): Promise<Allowance> {
    const { rows } = await client.query<Record<string, unknown>>(
      `INSERT INTO allowance (seat_id, environment, daily_limit, valid_from, valid_to, granted_by, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [grant.seatId, grant.environment, grant.dailyLimit, grant.validFrom, grant.validTo, grant.grantedBy, grant.reason],
    );
    return toAllowance(rows[0]);
  }

  async revoke(client: pg.ClientBase, id: number, operator: string): Promise<boolean> {
    const { rowCount } = await client.query('UPDATE allowance SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL', [id, operator]);
    return (rowCount ?? 0) > 0;
  }

  async listAllowances(): Promise<Allowance[]> {
    const { rows } = await this.pool.query('SELECT * FROM allowance WHERE revoked_at IS NULL AND valid_to > now() ORDER BY valid_from');
    return rows.map(toAllowance);
  }

  blocksInForce(): number {
    return this.blocks.size;
  }

  /** An operator's change has committed: in force here now, or, if the read fails, at the next periodic one. */
  async changed(): Promise<void> {
    await this.refresh().catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not reload blocks and allowances after a change; the next periodic reload will');
    });
  }

  async refresh(): Promise<void> {
    const ticket = ++this.issued;
    const [blocks, allowances] = await Promise.all([this.listBlocks(), this.listAllowances()]);
    if (ticket < this.applied) return;
    this.applied = ticket;
    this.written = this.written.filter((w) => w.after >= ticket);
    this.blocks = new Map([...blocks, ...this.written.map((w) => w.block)].map((b) => [blockKey(b.kind, b.subject), b]));
    this.allowances = allowances;
  }

  private remember(block: Block): void {
    this.written.push({ after: this.issued, block });
    this.blocks.set(blockKey(block.kind, block.subject), block);
  }
}

function blockKey(kind: CounterKind, subject: string): string {
  return `${kind}|${subject}`;
}

function toBlock(row: Record<string, unknown>): Block {
  return { id: Number(row.id), kind: row.kind as CounterKind, subject: String(row.subject), blockedAt: row.blocked_at as Date, reason: String(row.reason) };
}

function toAllowance(row: Record<string, unknown>): Allowance {
  return {
    id: Number(row.id),
    seatId: String(row.seat_id),
    environment: row.environment as Environment,
    dailyLimit: Number(row.daily_limit),
    validFrom: row.valid_from as Date,
    validTo: row.valid_to as Date,
    grantedBy: String(row.granted_by),
    reason: (row.reason as string | null) ?? null,
  };
}
