import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { operatorForToken } from '../admin/operator-auth';
import type { AdminOperator } from '../config/config';
import { audited } from '../store/audit-log';
import { deleteSession, insertSession, setFlash, touchSession, type ConsoleSession, type Flash, type SessionLifetime } from './session-repository';

export type { ConsoleSession, Flash, SessionLifetime };

export const DEFAULT_SESSION_LIFETIME: SessionLifetime = { absoluteSeconds: 8 * 3600, idleSeconds: 30 * 60 };

/** A signed-in browser: the session row, and the id its cookie carries (hashed). */
export interface SignedIn extends ConsoleSession {
  idSha256: Buffer;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * Console sessions (SPEC §4.1): an operator token is exchanged once for a random session id,
 * which the browser presents in an HttpOnly cookie. The session lives in the database, so that
 * every instance behind the admin address knows it and signing out ends it everywhere; it ends
 * too when its token is no longer configured.
 */
export class ConsoleSessions {
  constructor(
    private readonly pool: pg.Pool,
    private readonly operators: readonly AdminOperator[],
    readonly lifetime: SessionLifetime = DEFAULT_SESSION_LIFETIME,
  ) {}

  /** The cookie value of a new session, or undefined for a token no operator has. Audited. */
  async signIn(token: string): Promise<{ cookieValue: string; operator: string } | undefined> {
    const operator = operatorForToken(this.operators, token);
    if (!operator) return undefined;
    const cookieValue = randomBytes(32).toString('base64url');
    const session = {
      idSha256: sha256(cookieValue),
      operator: operator.name,
      tokenSha256: operator.tokenSha256,
      csrfToken: randomBytes(32).toString('base64url'),
    };
    await audited(this.pool, { operator: operator.name, action: 'console-sign-in' }, (client) => insertSession(client, session, this.lifetime));
    return { cookieValue, operator: operator.name };
  }

  async resolve(cookieValue: string | undefined, takeFlash: boolean): Promise<SignedIn | undefined> {
    if (!cookieValue || !/^[\w-]{43}$/.test(cookieValue)) return undefined;
    const idSha256 = sha256(cookieValue);
    const session = await touchSession(this.pool, idSha256, this.lifetime, takeFlash);
    if (!session) return undefined;
    const stillConfigured = this.operators.some((o) => o.name === session.operator && timingSafeEqual(o.tokenSha256, session.tokenSha256));
    return stillConfigured ? { ...session, idSha256 } : undefined;
  }

  async signOut(session: SignedIn): Promise<void> {
    await audited(this.pool, { operator: session.operator, action: 'console-sign-out' }, (client) => deleteSession(client, session.idSha256));
  }

  flash(session: SignedIn, flash: Flash): Promise<void> {
    return setFlash(this.pool, session.idSha256, flash);
  }
}

/** The synchronizer token of a form or request, compared in constant time. */
export function csrfTokenMatches(session: SignedIn, presented: unknown): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
