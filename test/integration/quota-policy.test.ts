import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { createLogger } from '../../src/log';
import { QuotaPolicy } from '../../src/quota';
import { audited } from '../../src/store/audit-log';
import { openDatabase, type Database } from '../../src/store/database';
import { migrate } from '../../src/store/migrate';
import { requireInCi } from '../support/service';
import { freshDatabase } from '../support/throwaway-database';

/**
 * The instance's copy of blocks and allowances follows what is committed, never a change
 * rolled back, and a read that began before an operator's change never undoes it. Run on
 * PostgreSQL when DATABASE_URL is set (CI), else on the embedded PGlite.
 */
const logger = createLogger('silent');
const SEAT = 'PBE000777';
const NOW = new Date('2027-03-01T10:00:00Z');
const DEFAULT_LIMIT = 10;

let database: Database;
let dataDir: string;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-policy-'));
  let databaseUrl: string | undefined;
  if (requireInCi('DATABASE_URL') && process.env.DATABASE_URL) {
    const created = await freshDatabase(process.env.DATABASE_URL, `hsmp_test_${randomBytes(6).toString('hex')}`);
    databaseUrl = created.url;
    drop = created.drop;
  }
  database = await openDatabase({ databaseUrl, dataDir, logger });
  await migrate(database);
});

afterAll(async () => {
  await database?.close();
  await drop?.();
  rmSync(dataDir, { recursive: true, force: true });
});

const operatorAction = { operator: 'tester', action: 'test' };
const rolledBack = new Error('the operator action failed after its write');

it('a grant rolled back is never in force, not even while its transaction is open', async () => {
  const policy = new QuotaPolicy(database.pool, logger, 60_000);
  await policy.start();
  try {
    let limitInsideTransaction: number | undefined;
    const grant = audited(database.pool, operatorAction, async (client) => {
      await policy.grant(client, {
        seatId: SEAT,
        environment: 'production',
        dailyLimit: 500,
        validFrom: new Date('2027-03-01T00:00:00Z'),
        validTo: new Date('2027-03-02T00:00:00Z'),
        grantedBy: 'tester',
        reason: null,
      });
      limitInsideTransaction = policy.userLimit(SEAT, 'production', NOW, DEFAULT_LIMIT);
      throw rolledBack;
    });
    await expect(grant).rejects.toBe(rolledBack);
    expect(limitInsideTransaction).toBe(DEFAULT_LIMIT);
    expect(policy.userLimit(SEAT, 'production', NOW, DEFAULT_LIMIT)).toBe(DEFAULT_LIMIT);
  } finally {
    policy.stop();
  }
});

it('a lift rolled back leaves the block in force; a lift committed is in force once the change is announced', async () => {
  const policy = new QuotaPolicy(database.pool, logger, 60_000);
  await policy.start();
  try {
    await policy.block('ip', '192.0.2.10', 'test');
    const lift = (client: pg.ClientBase) => policy.lift(client, 'ip', '192.0.2.10', 'tester', 'test');
    await expect(
      audited(database.pool, operatorAction, async (client) => {
        await lift(client);
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);
    expect(policy.isBlocked('ip', '192.0.2.10')).toBe(true);

    expect(await audited(database.pool, operatorAction, lift)).toBe(true);
    await policy.changed();
    expect(policy.isBlocked('ip', '192.0.2.10')).toBe(false);
  } finally {
    policy.stop();
  }
});

/** A pool whose reads of the block table answer only when the test lets them: the rows are read at once, then held. */
function poolHoldingBlockReads(pool: pg.Pool) {
  const held: Array<() => void> = [];
  const holding = { on: false };
  const proxy = new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
      return async (text: string, values?: unknown[]) => {
        const result = await target.query(text, values);
        if (holding.on && text.includes('FROM block')) await new Promise<void>((release) => held.push(release));
        return result;
      };
    },
  });
  const releaseAll = () => {
    for (const release of held.splice(0)) release();
  };
  return { pool: proxy, holding, releaseAll, heldCount: () => held.length };
}

it('a periodic read that began before a lift committed does not bring the lifted block back', async () => {
  const gate = poolHoldingBlockReads(database.pool);
  const policy = new QuotaPolicy(gate.pool, logger, 60_000);
  await policy.start();
  try {
    await policy.block('ip', '192.0.2.20', 'test');
    gate.holding.on = true;
    const stale = policy.refresh(); // reads the block, then is held
    await waitFor(() => gate.heldCount() === 1);
    gate.holding.on = false;

    await audited(database.pool, operatorAction, (client) => policy.lift(client, 'ip', '192.0.2.20', 'tester', 'test'));
    await policy.changed();
    expect(policy.isBlocked('ip', '192.0.2.20')).toBe(false);

    gate.releaseAll();
    await stale;
    expect(policy.isBlocked('ip', '192.0.2.20')).toBe(false);
  } finally {
    gate.releaseAll();
    policy.stop();
  }
});

it('a block written while a read is under way stays in force when that read ends without it', async () => {
  const gate = poolHoldingBlockReads(database.pool);
  const policy = new QuotaPolicy(gate.pool, logger, 60_000);
  await policy.start();
  try {
    gate.holding.on = true;
    const older = policy.refresh(); // reads no block for 192.0.2.30, then is held
    await waitFor(() => gate.heldCount() === 1);
    gate.holding.on = false;
    await policy.block('ip', '192.0.2.30', 'test');
    gate.releaseAll();
    await older;
    expect(policy.isBlocked('ip', '192.0.2.30')).toBe(true);
    await policy.refresh(); // a read that began after the block has it from the table
    expect(policy.isBlocked('ip', '192.0.2.30')).toBe(true);
  } finally {
    gate.releaseAll();
    policy.stop();
  }
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error('the condition never held');
}
