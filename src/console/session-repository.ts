import type pg from 'pg';

/** One row of console_session, the table this repository owns. */
export interface ConsoleSession {
  operator: string;
  tokenSha256: Buffer;
  csrfToken: string;
  flash: Flash | null;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface SessionLifetime {
  /** From sign-in, however busy the operator is. */
  absoluteSeconds: number;
  /** Without a request. */
  idleSeconds: number;
}

export async function insertSession(
  client: pg.ClientBase,
  session: { idSha256: Buffer; operator: string; tokenSha256: Buffer; csrfToken: string },
  lifetime: SessionLifetime,
): Promise<void> {
  // Signing in is also when the table is swept of sessions nobody will present again.
  await client.query('DELETE FROM console_session WHERE expires_at <= now()');
  await client.query(
    `INSERT INTO console_session (id_sha256, operator, token_sha256, csrf_token, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => LEAST($5::float8, $6::float8)))`,
    [session.idSha256, session.operator, session.tokenSha256, session.csrfToken, lifetime.absoluteSeconds, lifetime.idleSeconds],
  );
}

/**
 * The live session with this id, its idle expiry pushed forward (never past the absolute one) in
 * the same statement; its flash message is handed out once when `takeFlash`.
 */
export async function touchSession(pool: pg.Pool, idSha256: Buffer, lifetime: SessionLifetime, takeFlash: boolean): Promise<ConsoleSession | undefined> {
  const { rows } = await pool.query<{ operator: string; token_sha256: Buffer; csrf_token: string; flash: Flash | null }>(
    `UPDATE console_session s
        SET expires_at = LEAST(s.created_at + make_interval(secs => $2::float8), now() + make_interval(secs => $3::float8)),
            flash = CASE WHEN $4::boolean THEN NULL ELSE s.flash END
       FROM (SELECT id_sha256, flash FROM console_session WHERE id_sha256 = $1 FOR UPDATE) before
      WHERE s.id_sha256 = before.id_sha256 AND s.expires_at > now()
      RETURNING s.operator, s.token_sha256, s.csrf_token, before.flash`,
    [idSha256, lifetime.absoluteSeconds, lifetime.idleSeconds, takeFlash],
  );
  const row = rows.at(0);
  return row && { operator: row.operator, tokenSha256: row.token_sha256, csrfToken: row.csrf_token, flash: takeFlash ? row.flash : null };
}

export async function setFlash(pool: pg.Pool, idSha256: Buffer, flash: Flash): Promise<void> {
  await pool.query('UPDATE console_session SET flash = $2 WHERE id_sha256 = $1', [idSha256, JSON.stringify(flash)]);
}

export async function deleteSession(client: pg.ClientBase, idSha256: Buffer): Promise<void> {
  await client.query('DELETE FROM console_session WHERE id_sha256 = $1', [idSha256]);
}
