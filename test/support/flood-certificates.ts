import { createHash } from 'node:crypto';
import forge from 'node-forge';

/**
 * Certificates anyone can make, by the thousand: one self-signed certificate with an extension
 * of `padBytes`, then copies that differ in their serial number (so each has its own
 * fingerprint; the signature no longer matches, which a certificate no manifest CA issued
 * never gets to show). One private key matches them all, for TLS handshakes.
 */
export function floodCertificatesWithKey(count: number, padBytes: number): { certificates: string[]; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01' + 'ab'.repeat(15);
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ shortName: 'CN', value: 'PFLOOD000' }]);
  cert.setIssuer([{ shortName: 'CN', value: 'flood root' }]);
  cert.setExtensions([{ id: '1.3.6.1.4.1.99999.1', value: 'x'.repeat(padBytes) }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
  const serial = der.indexOf(Buffer.from('01' + 'ab'.repeat(15), 'hex'));
  const certificates = Array.from({ length: count }, (_, i) => {
    const copy = Buffer.from(der);
    createHash('sha256')
      .update(String(i))
      .digest()
      .copy(copy, serial + 1, 0, 15);
    return `-----BEGIN CERTIFICATE-----\n${copy.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----`;
  });
  return { certificates, keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** The same, as nginx forwards a client certificate: URL-encoded PEM. */
export function floodCertificates(count: number, padBytes: number): string[] {
  return floodCertificatesWithKey(count, padBytes).certificates.map((pem) => encodeURIComponent(pem));
}
