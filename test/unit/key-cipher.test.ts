import { randomBytes } from 'node:crypto';
import { KeyCipher } from '../../src/store/key-cipher';

describe('KeyCipher', () => {
  const cipher = new KeyCipher(randomBytes(32));

  it('round-trips a key bound to its row; another row or another key-encryption key cannot open it', () => {
    const sealed = cipher.encrypt('aB3$cD4%eF5(gH6)[]{}*^-!', '0200065765/test');
    expect(cipher.decrypt(sealed, '0200065765/test')).toBe('aB3$cD4%eF5(gH6)[]{}*^-!');
    expect(() => cipher.decrypt(sealed, '0200065765/production')).toThrow();
    expect(() => new KeyCipher(randomBytes(32)).decrypt(sealed, '0200065765/test')).toThrow();
  });

  it('a fresh nonce each time; the digest and fingerprint are stable and key-dependent', () => {
    expect(cipher.encrypt('same', 'row').equals(cipher.encrypt('same', 'row'))).toBe(false);
    expect(cipher.digest('k').equals(cipher.digest('k'))).toBe(true);
    expect(cipher.digest('k').equals(new KeyCipher(randomBytes(32)).digest('k'))).toBe(false);
    expect(cipher.fingerprint().equals(new KeyCipher(randomBytes(32)).fingerprint())).toBe(false);
  });

  it('refuses a key-encryption key that is not 32 bytes', () => {
    expect(() => new KeyCipher(randomBytes(16))).toThrow(/32 bytes/);
  });
});
