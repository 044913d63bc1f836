import { createPrivateKey, webcrypto } from 'node:crypto';

/** A PEM RSA private key as the WebCrypto key pkijs signs CRLs and OCSP answers with. */
export function importSigningKey(privateKeyPem: string): Promise<webcrypto.CryptoKey> {
  const pkcs8 = createPrivateKey(privateKeyPem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
}
