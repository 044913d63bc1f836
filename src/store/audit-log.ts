import type pg from 'pg';

/** One row of the operators' audit log (SPEC §4): who did what to what, why, and with what result. */
export interface AuditEntry {
  operator: string;
  action: string;
  target?: string;
  reason?: string;
  details?: unknown;
}

/** Writes the audit row inside the caller's transaction: the one place that does. */
export async function recordAudit(client: pg.ClientBase, entry: AuditEntry, result?: unknown): Promise<void> {
  await client.query('INSERT INTO audit_log (operator, action, target, reason, details) VALUES ($1, $2, $3, $4, $5)', [
    entry.operator,
    entry.action,
    entry.target ?? null,
    entry.reason ?? null,
    JSON.stringify(result === undefined ? entry.details : { ...(entry.details as object | undefined), result }),
  ]);
}

/** Runs an operator action and its audit record in one transaction: no action without its record. */
export async function audited<T>(pool: pg.Pool, entry: AuditEntry, action: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await action(client);
    await recordAudit(client, entry, result);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
