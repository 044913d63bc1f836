import { LRUCache } from 'lru-cache';
import type { AccessPoint } from '../domain/access-point';
import type { RevocationMode } from '../domain/revocation-mode';
import { dependencyUnavailable, HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { PresentedCertificate } from './presented-certificate';
import type { RevocationChecker } from './revocation';
import { isWithinValidity, type TrustedCa, type TrustStore } from './trust-store';
import { commonName, parseCertificate, pkijs, sha256Hex } from './x509';

/**
 * What a certificate is, independent of the time and of the request: worked out once per
 * certificate. A certificate no manifest CA signed keeps only its validity dates (804 answers
 * before 805), never the parsed certificate: anyone can mint those by the thousand.
 */
type Analysis =
  | { kind: 'unparsable' }
  | { kind: 'untrusted'; notBefore: Date; notAfter: Date }
  | { kind: 'trusted'; certificate: pkijs.Certificate; seatId?: string; issuer: TrustedCa; bytes: number };

/**
 * Two caches, so that a flood of self-made certificates can neither grow memory nor push out
 * the analyses of real access points: trusted ones are bounded by bytes (their DER size, times
 * the parsed object's overhead), untrusted and unparsable ones are a few dozen bytes each and
 * bounded by count.
 */
const TRUSTED_CACHE_BYTES = 128 * 1024 * 1024;
const UNTRUSTED_CACHE_ENTRIES = 20_000;
/**
 * A parsed pkijs certificate holds about 35 bytes of heap per byte of DER (measured: 35 kB for
 * the 1019-byte dev AP certificate, heap after GC over 2000 parses), so 128 MB keep ~3700
 * access points' certificates of that size.
 */
const PARSED_OVERHEAD = 35;

export interface AuthenticatorOptions {
  trustStore: TrustStore;
  revocation: RevocationChecker;
  revocationMode: RevocationMode;
  logger: Logger;
  now?: () => Date;
  /** Told whether each certificate's analysis came from the cache (for metrics). */
  onAnalysisCache?(hit: boolean): void;
  /** The caches' bounds; the defaults above are what production runs with. */
  cacheBounds?: { trustedBytes: number; untrustedEntries: number };
}

export class CertificateAuthenticator {
  private readonly trusted: LRUCache<string, Analysis>;
  private readonly untrusted: LRUCache<string, Analysis>;
  private readonly now: () => Date;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? (() => new Date());
    const bounds = options.cacheBounds ?? { trustedBytes: TRUSTED_CACHE_BYTES, untrustedEntries: UNTRUSTED_CACHE_ENTRIES };
    this.trusted = new LRUCache({
      maxSize: bounds.trustedBytes,
      sizeCalculation: (analysis) => (analysis.kind === 'trusted' ? analysis.bytes : 64),
    });
    this.untrusted = new LRUCache({ max: bounds.untrustedEntries });
  }

  /**
   * Runs the certificate checks in the order of SPEC §2 and throws the first that fails:
   * 802 none, 803 unparsable, 804 dates, 805 no chain to a manifest root, 808 not through an
   * AP CA, 806 a test AP asking for production, 807 revoked.
   */
  async authenticate(presented: PresentedCertificate, requestedEnvironment: string): Promise<AccessPoint> {
    if (presented.kind === 'none') throw new HsmpError('HSMP-802');
    if (presented.kind === 'malformed') throw new HsmpError('HSMP-803');
    const der = presented.der;
    const fingerprint = sha256Hex(der);
    const cached = this.trusted.get(fingerprint) ?? this.untrusted.get(fingerprint);
    this.options.onAnalysisCache?.(cached !== undefined);
    const analysis = cached ?? (await this.analyse(fingerprint, der));
    if (analysis.kind === 'unparsable') throw new HsmpError('HSMP-803');
    const now = this.now();
    if (analysis.kind === 'untrusted') {
      throw new HsmpError(analysis.notBefore <= now && now <= analysis.notAfter ? 'HSMP-805' : 'HSMP-804');
    }
    const { certificate, issuer, seatId } = analysis;
    if (!isWithinValidity(certificate, now)) throw new HsmpError('HSMP-804');
    if (!isWithinValidity(issuer.certificate, now) || (issuer.root && !isWithinValidity(issuer.root.certificate, now))) {
      throw new HsmpError('HSMP-805');
    }
    if (issuer.role !== 'ap' || !seatId) throw new HsmpError('HSMP-808');
    if (issuer.environment === 'test' && requestedEnvironment === 'production') throw new HsmpError('HSMP-806');
    await this.checkRevocation(certificate, fingerprint, issuer, seatId);
    return { seatId, fingerprint, environment: issuer.environment };
  }

  private async analyse(fingerprint: string, der: Uint8Array): Promise<Analysis> {
    let certificate: pkijs.Certificate;
    try {
      certificate = parseCertificate(der);
    } catch {
      const unparsable: Analysis = { kind: 'unparsable' };
      this.untrusted.set(fingerprint, unparsable);
      return unparsable;
    }
    const issuer = await this.options.trustStore.issuerOf(certificate).catch(() => undefined);
    if (!issuer) {
      const untrusted: Analysis = { kind: 'untrusted', notBefore: certificate.notBefore.value, notAfter: certificate.notAfter.value };
      this.untrusted.set(fingerprint, untrusted);
      return untrusted;
    }
    const seatId = commonName(certificate.subject)?.trim() || undefined;
    const trusted: Analysis = { kind: 'trusted', certificate, issuer, seatId, bytes: der.length * PARSED_OVERHEAD };
    this.trusted.set(fingerprint, trusted);
    return trusted;
  }

  /** Entries and bytes held by the analysis caches (tests and metrics). */
  cacheUsage(): { trusted: number; trustedBytes: number; untrusted: number } {
    return { trusted: this.trusted.size, trustedBytes: this.trusted.calculatedSize, untrusted: this.untrusted.size };
  }

  private async checkRevocation(certificate: pkijs.Certificate, fingerprint: string, issuer: TrustedCa, seatId: string): Promise<void> {
    if (this.options.revocationMode === 'off') return;
    const verdict = await this.options.revocation.check(certificate, fingerprint, issuer);
    if (verdict.status === 'revoked') throw new HsmpError('HSMP-807');
    if (verdict.status === 'unknown') {
      if (this.options.revocationMode === 'hard') {
        this.options.logger.warn({ seatId, fingerprint, reason: verdict.reason }, 'revocation status unknown: refused (hard mode)');
        throw dependencyUnavailable('certificate revocation responder');
      }
      this.options.logger.warn({ seatId, fingerprint, reason: verdict.reason }, 'revocation status unknown: let through (soft mode)');
    }
  }
}
