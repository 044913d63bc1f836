import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Migration keys at rest: AES-256-GCM with a 96-bit random nonce, the row (participant and
 * environment) as associated data so a ciphertext cannot be moved to another row; and an
 * HMAC digest to enforce uniqueness of key values without storing them. Both sub-keys are
 * derived from the one key-encryption key (HSMP_KEY_ENCRYPTION_KEY).
 */
export class KeyCipher {
  private readonly encryptionKey: Buffer;
  private readonly digestKey: Buffer;

  constructor(keyEncryptionKey: Buffer) {
    if (keyEncryptionKey.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
    this.encryptionKey = createHmac('sha256', keyEncryptionKey).update('hsmp migration key encryption').digest();
    this.digestKey = createHmac('sha256', keyEncryptionKey).update('hsmp migration key digest').digest();
  }

  encrypt(plaintext: string, row: string): Buffer {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, nonce).setAAD(Buffer.from(row));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([nonce, cipher.getAuthTag(), body]);
  }

  decrypt(sealed: Buffer, row: string): string {
    const decipher = createDecipheriv('aes-256-gcm', this.encryptionKey, sealed.subarray(0, 12)).setAAD(Buffer.from(row));
    decipher.setAuthTag(sealed.subarray(12, 28));
    return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
  }

  digest(plaintext: string): Buffer {
    return createHmac('sha256', this.digestKey).update(plaintext).digest();
  }

  /** What key_encryption_check stores: tells whether this is the key the database was written with. */
  fingerprint(): Buffer {
    return createHmac('sha256', this.digestKey).update('key-encryption-check').digest();
  }
}

/**
 * HSMP_KEY_ENCRYPTION_KEY (parsed and checked by the configuration) when set; otherwise a key
 * generated once into the data directory, which suits one embedded instance. Instances sharing
 * a database must share the variable.
 */
export function loadKeyEncryptionKey(configured: Buffer | undefined, dataDir: string): { key: Buffer; generated?: string } {
  if (configured) return { key: configured };
  const file = path.join(dataDir, 'key-encryption.key');
  if (existsSync(file)) return { key: Buffer.from(readFileSync(file, 'utf8').trim(), 'hex') };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('hex'), { mode: 0o600, flag: 'wx' });
  return { key, generated: file };
}
