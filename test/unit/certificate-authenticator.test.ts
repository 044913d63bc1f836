import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ClientCase } from '../../src/dev/dev-pki';
import { HsmpError } from '../../src/domain/errors';
import { createLogger } from '../../src/log';
import { CertificateAuthenticator, RevocationChecker, TrustStore, type PresentedCertificate } from '../../src/tls';
import { parsePemCertificates } from '../../src/tls/x509';
import { floodCertificatesWithKey } from '../support/flood-certificates';
import { testPki } from '../support/pki';

/**
 * The authenticator's cache rules, without a server: what a certificate is (parsed, trusted,
 * its seat) is worked out once; what depends on the time or the request is decided on every
 * request; self-made certificates are kept apart and bounded by count. The PKI is the run's.
 */
const pki = testPki();
const DAY_MS = 86_400_000;
const presented = (der: Uint8Array): PresentedCertificate => ({ kind: 'der', der });
const derOf = (c: ClientCase) => parsePemCertificates(readFileSync(pki.clientCert(c), 'utf8'))[0];

async function authenticator(cacheBounds?: { trustedBytes: number; untrustedEntries: number }) {
  let now = new Date();
  const hits: boolean[] = [];
  const noResponder = new RevocationChecker({
    order: ['ocsp'],
    timeoutMs: 1000,
    maxCacheSeconds: 60,
    fetch: () => Promise.reject(new Error('revocation is off: nothing is fetched')),
  });
  const instance = new CertificateAuthenticator({
    trustStore: await TrustStore.load(pki.manifest),
    revocation: noResponder,
    revocationMode: 'off',
    logger: createLogger('silent'),
    now: () => now,
    onAnalysisCache: (hit) => hits.push(hit),
    cacheBounds,
  });
  const codeOf = (certificate: PresentedCertificate, environment = 'production') =>
    instance.authenticate(certificate, environment).then(
      (accessPoint) => accessPoint.seatId,
      (error: unknown) => (error as HsmpError).code,
    );
  return { instance, hits, codeOf, setNow: (at: Date) => (now = at) };
}

describe('certificate authenticator cache', () => {
  it('analyses a certificate once: its next requests, for any environment, are cache hits', async () => {
    const { instance, hits, codeOf } = await authenticator();
    const apTest = presented(derOf('ap-test'));
    expect(await codeOf(apTest, 'test')).toBe('PBE000002');
    expect(await codeOf(apTest, 'test')).toBe('PBE000002');
    expect(await codeOf(apTest, 'production')).toBe('HSMP-806');
    expect(hits).toEqual([false, true, true]);
    expect(instance.cacheUsage()).toMatchObject({ trusted: 1, untrusted: 0 });
  });

  it('decides the dates on every request: a cached trusted analysis answers 804 once the clock passes its end', async () => {
    const { hits, codeOf, setNow } = await authenticator();
    const apProduction = presented(derOf('ap-production'));
    expect(await codeOf(apProduction)).toBe('PBE000001');
    setNow(new Date(Date.now() + 400 * DAY_MS));
    expect(await codeOf(apProduction)).toBe('HSMP-804');
    expect(hits).toEqual([false, true]);
  });

  it('keeps only the dates of a certificate no manifest CA signed: 805 within them, 804 outside, both from the cache', async () => {
    const { instance, hits, codeOf, setNow } = await authenticator();
    const untrusted = presented(derOf('untrusted'));
    expect(await codeOf(untrusted)).toBe('HSMP-805');
    setNow(new Date(Date.now() + 400 * DAY_MS));
    expect(await codeOf(untrusted)).toBe('HSMP-804');
    expect(hits).toEqual([false, true]);
    expect(instance.cacheUsage()).toEqual({ trusted: 0, trustedBytes: 0, untrusted: 1 });
  });

  it('remembers an unparsable certificate among the untrusted: 803 again without parsing', async () => {
    const { instance, hits, codeOf } = await authenticator();
    const garbage = presented(randomBytes(300));
    expect(await codeOf(garbage)).toBe('HSMP-803');
    expect(await codeOf(garbage)).toBe('HSMP-803');
    expect(hits).toEqual([false, true]);
    expect(instance.cacheUsage()).toMatchObject({ trusted: 0, untrusted: 1 });
  });

  it('counts a trusted analysis by the bytes its parsed certificate holds', async () => {
    const { instance, codeOf } = await authenticator();
    const [production, test] = [derOf('ap-production'), derOf('ap-test')];
    await codeOf(presented(production));
    await codeOf(presented(test), 'test');
    expect(instance.cacheUsage()).toEqual({ trusted: 2, trustedBytes: (production.length + test.length) * 35, untrusted: 0 });
  });

  it('bounds trusted analyses by bytes, the least recently used leaving first', async () => {
    const [production, test] = [derOf('ap-production'), derOf('ap-test')];
    const { instance, hits, codeOf } = await authenticator({
      trustedBytes: Math.floor(Math.max(production.length, test.length) * 35 * 1.5),
      untrustedEntries: 10,
    });
    await codeOf(presented(production));
    await codeOf(presented(test), 'test');
    await codeOf(presented(production));
    expect(instance.cacheUsage()).toMatchObject({ trusted: 1 });
    expect(hits).toEqual([false, false, false]);
  });

  it('bounds self-made certificates by count and never lets them evict a real access point', async () => {
    const { instance, hits, codeOf } = await authenticator({ trustedBytes: 1024 * 1024, untrustedEntries: 100 });
    const apProduction = presented(derOf('ap-production'));
    expect(await codeOf(apProduction)).toBe('PBE000001');
    const flood = floodCertificatesWithKey(150, 0).certificates.map((pem) => presented(parsePemCertificates(pem)[0]));
    for (const certificate of flood) expect(await codeOf(certificate)).toBe('HSMP-805');
    expect(instance.cacheUsage()).toMatchObject({ trusted: 1, untrusted: 100 });
    hits.length = 0;
    expect(await codeOf(apProduction)).toBe('PBE000001');
    expect(hits).toEqual([true]);
  });
});
