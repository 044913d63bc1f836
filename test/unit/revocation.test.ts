import { readFileSync } from 'node:fs';
import { signCrl, signOcspResponse } from '../../src/dev/revocation-documents';
import { RevocationChecker, TrustStore, type FetchDer } from '../../src/tls';
import { parseCertificate, parsePemCertificates, serialHex } from '../../src/tls/x509';
import { testPki } from '../support/pki';

/**
 * OCSP and CRL judgement with the documents the dev PKI's responder would send, handed over by
 * a fake fetch: no server. The PKI itself is the run's (made by the jest global setup).
 */
const pki = testPki();
const pem = (file: string) => readFileSync(file, 'utf8');
const certificateOf = (file: string) => parseCertificate(parsePemCertificates(pem(file))[0]);
const ca = { cert: pem(pki.caCert('ap-production')), key: pem(pki.caKey('ap-production')) };
const otherCa = { cert: pem(pki.caCert('ap-test')), key: pem(pki.caKey('ap-test')) };

async function setup() {
  const trustStore = await TrustStore.load(pki.manifest);
  const good = certificateOf(pki.clientCert('ap-production'));
  const revoked = certificateOf(pki.clientCert('revoked'));
  const issuer = await trustStore.issuerOf(good);
  if (!issuer) throw new Error('the dev AP CA must be in the manifest');
  return { good, revoked, issuer, revokedSerials: new Set([serialHex(revoked)]) };
}

const asArrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

function checker(fetch: FetchDer, order: Array<'ocsp' | 'crl'> = ['ocsp'], now?: () => Date) {
  return new RevocationChecker({ order, timeoutMs: 1000, maxCacheSeconds: 60, fetch, now });
}

describe('OCSP', () => {
  it('good and revoked, signed by the issuing CA', async () => {
    const { good, revoked, issuer, revokedSerials } = await setup();
    const fetch: FetchDer = async (_url, _max, init) => asArrayBuffer(await signOcspResponse(init.body as Buffer, ca.cert, ca.key, revokedSerials));
    expect(await checker(fetch).check(good, 'g', issuer)).toEqual({ status: 'good', source: 'ocsp' });
    expect(await checker(fetch).check(revoked, 'r', issuer)).toEqual({ status: 'revoked', source: 'ocsp' });
  });

  it('an answer signed by another CA is not believed', async () => {
    const { good, issuer } = await setup();
    const fetch: FetchDer = async (_url, _max, init) => asArrayBuffer(await signOcspResponse(init.body as Buffer, otherCa.cert, otherCa.key, new Set()));
    expect(await checker(fetch).check(good, 'g', issuer)).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/not signed by the issuing CA/) });
  });

  it('stale (nextUpdate passed) and future (thisUpdate ahead) answers are not believed', async () => {
    const { good, issuer } = await setup();
    const dated =
      (at: Date): FetchDer =>
      async (_url, _max, init) =>
        asArrayBuffer(await signOcspResponse(init.body as Buffer, ca.cert, ca.key, new Set(), at));
    expect(await checker(dated(new Date(Date.now() - 2 * 3600_000))).check(good, 'g', issuer)).toMatchObject({
      status: 'unknown',
      reason: expect.stringMatching(/stale response/),
    });
    expect(await checker(dated(new Date(Date.now() + 3600_000))).check(good, 'g', issuer)).toMatchObject({
      status: 'unknown',
      reason: expect.stringMatching(/from the future/),
    });
  });

  it('garbage and a dead responder give "unknown" with the reason, and concurrent questions share one fetch', async () => {
    const { good, issuer } = await setup();
    expect(await checker(async () => asArrayBuffer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]))).check(good, 'g', issuer)).toMatchObject({ status: 'unknown' });
    let calls = 0;
    const dead: FetchDer = async () => {
      calls++;
      throw new Error('connect ECONNREFUSED');
    };
    const c = checker(dead);
    const answers = await Promise.all([c.check(good, 'g', issuer), c.check(good, 'g', issuer), c.check(good, 'g', issuer)]);
    expect(answers.every((a) => a.status === 'unknown' && /ECONNREFUSED/.test(a.reason ?? ''))).toBe(true);
    expect(calls).toBe(1);
  });
});

describe('CRL', () => {
  it('revoked serials are found; a CRL signed by another CA or past nextUpdate is refused', async () => {
    const { good, revoked, issuer, revokedSerials } = await setup();
    const crl =
      (signer: typeof ca, at = new Date()): FetchDer =>
      async () =>
        asArrayBuffer(await signCrl(signer.cert, signer.key, [...revokedSerials], at));
    expect(await checker(crl(ca), ['crl']).check(good, 'g', issuer)).toEqual({ status: 'good', source: 'crl' });
    expect(await checker(crl(ca), ['crl']).check(revoked, 'r', issuer)).toEqual({ status: 'revoked', source: 'crl' });
    expect(await checker(crl(otherCa), ['crl']).check(revoked, 'r', issuer)).toMatchObject({ status: 'unknown' });
    expect(await checker(crl(ca, new Date(Date.now() - 2 * 24 * 3600_000)), ['crl']).check(revoked, 'r', issuer)).toMatchObject({
      status: 'unknown',
      reason: expect.stringMatching(/stale CRL/),
    });
  });
});
