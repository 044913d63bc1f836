import type pg from 'pg';

export interface AuditEntry {
  operator: string;
  action: string;
  target?: string;
  reason?: string;
  details?: unknown;
}

/** Runs an operator action and its audit record in one transaction: no action without its record. */
export async function audited<T>(pool: pg.Pool, entry: AuditEntry, action: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await action(client);
    await client.query('INSERT INTO audit_log (operator, action, target, reason, details) VALUES ($1, $2, $3, $4, $5)', [
      entry.operator,
      entry.action,
      entry.target ?? null,
      entry.reason ?? null,
      JSON.stringify({ ...(entry.details as object | undefined), result }),
    ]);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
