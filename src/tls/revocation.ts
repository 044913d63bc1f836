import { SingleFlight } from '../batching/single-flight';
import * as asn1js from 'asn1js';
import { LRUCache } from 'lru-cache';
import { request } from 'undici';
import type { RevocationSource } from '../domain/revocation-mode';
import type { TrustedCa } from './trust-store';
import { crlUrls, ocspUrls, pkijs, serialHex } from './x509';

/**
 * Is a client certificate revoked? Asks the sources in the configured order (OCSP from the
 * certificate's AIA, CRL from its distribution points) and caches every answer: OCSP verdicts
 * per certificate, CRLs per URL, each until the answer's nextUpdate, capped. Concurrent
 * questions about the same certificate or CRL share one fetch.
 */
export type RevocationStatus = 'good' | 'revoked' | 'unknown';

export interface RevocationVerdict {
  status: RevocationStatus;
  source?: RevocationSource;
  /** Why the status is unknown: every source failed or none was named. */
  reason?: string;
}

export interface RevocationOptions {
  order: RevocationSource[];
  timeoutMs: number;
  maxCacheSeconds: number;
  /** How long an 'unknown' verdict is kept, so that a dead responder is not asked on every request. */
  unknownCacheSeconds?: number;
  now?: () => Date;
  /** Where OCSP answers and CRLs come from; default: HTTP with `timeoutMs`. */
  fetch?: FetchDer;
}

export type FetchDer = (
  url: string,
  maxBytes: number,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: Buffer },
) => Promise<ArrayBuffer>;

const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const MAX_OCSP_BYTES = 64 * 1024;
const MAX_CRL_BYTES = 20 * 1024 * 1024;
/** Without nextUpdate, an answer is kept this long. */
const DEFAULT_TTL_SECONDS = 300;
/** Clocks differ: an answer may be this far in our future. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** An OCSP answer without nextUpdate older than this is stale (a replayed old "good"). */
const MAX_OCSP_AGE_MS = 7 * 24 * 3600 * 1000;

interface CachedCrl {
  revokedSerials: Set<string>;
}

export class RevocationChecker {
  private readonly verdicts = new LRUCache<string, RevocationVerdict>({ max: 50_000 });
  private readonly crls = new LRUCache<string, CachedCrl>({ max: 64 });
  private readonly flights = new SingleFlight();
  private readonly now: () => Date;

  private readonly fetch: FetchDer;

  constructor(private readonly options: RevocationOptions) {
    this.now = options.now ?? (() => new Date());
    this.fetch = options.fetch ?? httpFetchDer(options.timeoutMs);
  }

  async check(certificate: pkijs.Certificate, fingerprint: string, issuer: TrustedCa): Promise<RevocationVerdict> {
    const cached = this.verdicts.get(fingerprint);
    if (cached) return cached;
    return this.flights.run(`cert:${fingerprint}`, async () => {
      const { verdict, ttlSeconds } = await this.ask(certificate, issuer);
      this.verdicts.set(fingerprint, verdict, { ttl: ttlSeconds * 1000 });
      return verdict;
    });
  }

  private async ask(certificate: pkijs.Certificate, issuer: TrustedCa): Promise<{ verdict: RevocationVerdict; ttlSeconds: number }> {
    const failures: string[] = [];
    for (const source of this.options.order) {
      const urls = source === 'ocsp' ? ocspUrls(certificate) : crlUrls(certificate);
      for (const url of urls) {
        try {
          if (source === 'ocsp') {
            const answer = await this.askOcsp(url, certificate, issuer);
            if (answer) return { verdict: { status: answer.status, source }, ttlSeconds: answer.ttlSeconds };
            failures.push(`ocsp ${url}: status unknown to the responder`);
          } else {
            const crl = await this.crl(url, issuer);
            const status = crl.revokedSerials.has(serialHex(certificate)) ? 'revoked' : 'good';
            return { verdict: { status, source }, ttlSeconds: this.options.maxCacheSeconds };
          }
        } catch (error) {
          failures.push(`${source} ${url}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    const reason = failures.length > 0 ? failures.join('; ') : `no ${this.options.order.join(' or ')} location in the certificate`;
    return { verdict: { status: 'unknown', reason }, ttlSeconds: this.options.unknownCacheSeconds ?? 30 };
  }

  /** Undefined when the responder answers 'unknown' for this certificate. */
  private async askOcsp(
    url: string,
    certificate: pkijs.Certificate,
    issuer: TrustedCa,
  ): Promise<{ status: 'good' | 'revoked'; ttlSeconds: number } | undefined> {
    const ocspRequest = new pkijs.OCSPRequest();
    // SHA-1 CertIDs are what RFC 5019 responders (and Peppol's CAs) answer for.
    await ocspRequest.createForCertificate(certificate, { hashAlgorithm: 'SHA-1', issuerCertificate: issuer.certificate });
    const body = await this.fetch(url, MAX_OCSP_BYTES, {
      method: 'POST',
      headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
      body: Buffer.from(ocspRequest.toSchema(true).toBER(false)),
    });
    const response = pkijs.OCSPResponse.fromBER(body);
    if (response.responseStatus.valueBlock.valueDec !== 0) throw new Error(`responder status ${response.responseStatus.valueBlock.valueDec}`);
    if (response.responseBytes?.responseType !== OCSP_BASIC) throw new Error('not a basic OCSP response');
    const basic = pkijs.BasicOCSPResponse.fromBER(response.responseBytes.response.valueBlock.valueHexView);
    // A CA answering for itself often attaches no certificate; pkijs wants the signer attached.
    if (!basic.certs || basic.certs.length === 0) basic.certs = [issuer.certificate];
    const trusted = issuer.root ? [issuer.certificate, issuer.root.certificate] : [issuer.certificate];
    const signedByIssuer = await basic.verify({ trustedCerts: trusted, issuerCerts: [issuer.certificate] }).catch(() => false);
    if (!signedByIssuer) throw new Error('response not signed by the issuing CA or its delegated responder');
    const { isForCertificate, status } = await basic.getCertificateStatus(certificate, issuer.certificate);
    if (!isForCertificate) throw new Error('response is for another certificate');
    if (status === 2) return undefined;
    const single = basic.tbsResponseData.responses.find((r) => r.certID.serialNumber.isEqual(certificate.serialNumber));
    if (!single) throw new Error('response is for another certificate');
    const now = this.now();
    // RFC 6960 §3.2: thisUpdate and producedAt must be sufficiently recent, and not ahead of us.
    const ahead = now.getTime() + CLOCK_SKEW_MS;
    if (single.thisUpdate.getTime() > ahead || basic.tbsResponseData.producedAt.getTime() > ahead)
      throw new Error('response from the future (thisUpdate or producedAt)');
    if (single.nextUpdate && single.nextUpdate < now) throw new Error('stale response (nextUpdate passed)');
    if (!single.nextUpdate && now.getTime() - single.thisUpdate.getTime() > MAX_OCSP_AGE_MS) throw new Error('stale response (thisUpdate older than 7 days)');
    return { status: status === 1 ? 'revoked' : 'good', ttlSeconds: this.ttlUntil(single.nextUpdate) };
  }

  private async crl(url: string, issuer: TrustedCa): Promise<CachedCrl> {
    const key = `${issuer.fingerprint} ${url}`;
    const cached = this.crls.get(key);
    if (cached) return cached;
    return this.flights.run(`crl:${key}`, async () => {
      const body = await this.fetch(url, MAX_CRL_BYTES, { method: 'GET' });
      const crl = pkijs.CertificateRevocationList.fromBER(body);
      if (!(await crl.verify({ issuerCertificate: issuer.certificate }).catch(() => false))) throw new Error('CRL not signed by the issuing CA');
      const nextUpdate = crl.nextUpdate?.value;
      if (nextUpdate && nextUpdate < this.now()) throw new Error('stale CRL (nextUpdate passed)');
      const revokedSerials = new Set((crl.revokedCertificates ?? []).map((r) => Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex')));
      const entry = { revokedSerials };
      this.crls.set(key, entry, { ttl: this.ttlUntil(nextUpdate) * 1000 });
      return entry;
    });
  }

  private ttlUntil(nextUpdate: Date | undefined): number {
    if (!nextUpdate) return Math.min(DEFAULT_TTL_SECONDS, this.options.maxCacheSeconds);
    const seconds = Math.floor((nextUpdate.getTime() - this.now().getTime()) / 1000);
    return Math.max(1, Math.min(seconds, this.options.maxCacheSeconds));
  }
}

/**
 * Fetches a DER document (OCSP answer, CRL) over HTTP, bounded in time and size; what is not
 * DER is refused. The checker's default; tests pass their own.
 */
export function httpFetchDer(timeoutMs: number): FetchDer {
  return async (url, maxBytes, init) => {
    const response = await request(url, {
      ...init,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`HTTP ${response.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        response.body.destroy();
        throw new Error(`answer larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    const all = Buffer.concat(chunks);
    if (asn1js.fromBER(all).offset === -1) throw new Error('answer is not DER');
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  };
}
