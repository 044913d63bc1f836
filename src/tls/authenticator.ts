import { LRUCache } from 'lru-cache';
import type { RevocationMode } from '../config/config';
import type { Environment } from '../domain/environment';
import { dependencyUnavailable, HsmpError } from '../domain/errors';
import type { Logger } from '../log';
import type { PresentedCertificate } from './presented-certificate';
import type { RevocationChecker } from './revocation';
import { isWithinValidity, type TrustedCa, type TrustStore } from './trust-store';
import { commonName, parseCertificate, pkijs, sha256Hex } from './x509';

/** The caller, once its certificate has passed every check. */
export interface AccessPoint {
  /** Subject CN of the AP certificate: the Peppol seat id, e.g. PBE000123. */
  seatId: string;
  /** SHA-256 of the certificate's DER, hex. */
  fingerprint: string;
  /** Environment of the AP CA that issued the certificate. */
  environment: Environment;
}

/** What a certificate is, independent of the time and of the request: worked out once per certificate. */
type Analysis =
  | { kind: 'unparsable' }
  | { kind: 'certificate'; certificate: pkijs.Certificate; seatId?: string; issuer?: TrustedCa };

export interface AuthenticatorOptions {
  trustStore: TrustStore;
  revocation: RevocationChecker;
  revocationMode: RevocationMode;
  logger: Logger;
  now?: () => Date;
  /** Told whether each certificate's analysis came from the cache (for metrics). */
  onAnalysisCache?(hit: boolean): void;
}

export class CertificateAuthenticator {
  private readonly analyses = new LRUCache<string, Analysis>({ max: 10_000 });
  private readonly now: () => Date;

  constructor(private readonly options: AuthenticatorOptions) {
    this.now = options.now ?? (() => new Date());
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
    const cached = this.analyses.get(fingerprint);
    this.options.onAnalysisCache?.(cached !== undefined);
    const analysis = cached ?? (await this.analyse(fingerprint, der));
    if (analysis.kind === 'unparsable') throw new HsmpError('HSMP-803');
    const { certificate, issuer, seatId } = analysis;
    const now = this.now();
    if (!isWithinValidity(certificate, now)) throw new HsmpError('HSMP-804');
    if (!issuer || !isWithinValidity(issuer.certificate, now) || (issuer.root && !isWithinValidity(issuer.root.certificate, now))) {
      throw new HsmpError('HSMP-805');
    }
    if (issuer.role !== 'ap' || !seatId) throw new HsmpError('HSMP-808');
    if (issuer.environment === 'test' && requestedEnvironment === 'production') throw new HsmpError('HSMP-806');
    await this.checkRevocation(certificate, fingerprint, issuer, seatId);
    return { seatId, fingerprint, environment: issuer.environment };
  }

  private async analyse(fingerprint: string, der: Uint8Array): Promise<Analysis> {
    let analysis: Analysis;
    try {
      const certificate = parseCertificate(der);
      const issuer = await this.options.trustStore.issuerOf(certificate);
      analysis = { kind: 'certificate', certificate, issuer, seatId: commonName(certificate.subject)?.trim() || undefined };
    } catch {
      analysis = { kind: 'unparsable' };
    }
    this.analyses.set(fingerprint, analysis);
    return analysis;
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
