import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AdminOperator } from '../config/config';

export const DEV_OPERATOR_NAME = 'developer';

export interface DevOperator {
  operator: AdminOperator;
  /** Where the token's SHA-256 is kept (delete it for a new token at the next start). */
  hashFile: string;
  /** The token itself, only on the start that made it: it is printed once and never stored. */
  newToken?: string;
}

/**
 * The development deployment's operator: a random token made on the first start, kept only as
 * its SHA-256 in the data directory (as HSMP_ADMIN_TOKENS keeps a production operator's).
 */
export function ensureDevOperator(dataDir: string): DevOperator {
  const hashFile = path.join(dataDir, 'dev-operator-token.sha256');
  let newToken: string | undefined;
  if (!existsSync(hashFile)) {
    newToken = randomBytes(24).toString('base64url');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(hashFile, `${createHash('sha256').update(newToken).digest('hex')}\n`, { mode: 0o600, flag: 'wx' });
  }
  const hex = readFileSync(hashFile, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${hashFile}: expected a SHA-256 in hex (delete it for a new token)`);
  return { operator: { name: DEV_OPERATOR_NAME, tokenSha256: Buffer.from(hex, 'hex') }, hashFile, newToken };
}
