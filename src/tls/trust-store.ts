import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { parseCertificate, parsePemCertificates, pkijs, sha256Hex } from './x509';
import { ConfigError } from '../domain/errors';

/**
 * The trust store of SPEC §6: a JSON manifest naming PEM CA certificates with their role and
 * environment. Whether a client is a Peppol access point, and of which environment, is
 * decided from this manifest alone, by verifying signatures, never by reading names.
 */
export type CaRole = 'root' | 'ap' | 'smp';

export interface TrustedCa {
  file: string;
  role: CaRole;
  environment: Environment;
  certificate: pkijs.Certificate;
  fingerprint: string;
  /** For an issuing CA: the manifest root whose signature it carries (verified at load). */
  root?: TrustedCa;
}

/** A trust store that cannot be used: a configuration error (exit 1 at start-up). */
export class TrustStoreError extends ConfigError {}

const manifestSchema = z.object({
  cas: z
    .array(
      z.object({
        file: z.string().min(1),
        role: z.enum(['root', 'ap', 'smp']),
        environment: z.enum(ENVIRONMENTS),
      }),
    )
    .min(1),
});

export class TrustStore {
  private constructor(readonly cas: readonly TrustedCa[]) {}

  /** Reads and checks the manifest: every file exists and parses, every issuing CA chains to a listed root. */
  static async load(manifestPath: string): Promise<TrustStore> {
    let manifest: z.infer<typeof manifestSchema>;
    try {
      manifest = manifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
    } catch (error) {
      throw new TrustStoreError(`trust store ${manifestPath}: ${describe(error)}`);
    }
    const cas: TrustedCa[] = [];
    for (const entry of manifest.cas) {
      const file = path.resolve(path.dirname(manifestPath), entry.file);
      let pem: string;
      try {
        pem = readFileSync(file, 'utf8');
      } catch {
        throw new TrustStoreError(`trust store ${manifestPath}: CA file not found: ${entry.file}`);
      }
      const ders = parsePemCertificates(pem);
      if (ders.length !== 1) throw new TrustStoreError(`trust store: ${entry.file} must hold exactly one PEM certificate`);
      let certificate: pkijs.Certificate;
      try {
        certificate = parseCertificate(ders[0]);
      } catch {
        throw new TrustStoreError(`trust store: ${entry.file} is not a valid certificate`);
      }
      cas.push({ file: entry.file, role: entry.role, environment: entry.environment, certificate, fingerprint: sha256Hex(ders[0]) });
    }
    const store = new TrustStore(cas);
    for (const ca of cas.filter((c) => c.role !== 'root')) {
      const root = await store.verifiedIssuer(ca.certificate, (c) => c.role === 'root' && c.environment === ca.environment);
      if (!root) throw new TrustStoreError(`trust store: ${ca.file} is not signed by a ${ca.environment} root of the manifest`);
      ca.root = root;
    }
    return store;
  }

  /**
   * The manifest CA whose key verifies the certificate's signature, or undefined. Candidates are
   * found by issuer name, but only a signature decides: a CA with the same name and another key
   * does not match. Time plays no part here: the caller checks validity dates.
   */
  async issuerOf(certificate: pkijs.Certificate): Promise<TrustedCa | undefined> {
    return this.verifiedIssuer(certificate, () => true);
  }

  private async verifiedIssuer(certificate: pkijs.Certificate, accept: (ca: TrustedCa) => boolean): Promise<TrustedCa | undefined> {
    for (const ca of this.cas) {
      if (!accept(ca) || !ca.certificate.subject.isEqual(certificate.issuer)) continue;
      if (await certificate.verify(ca.certificate).catch(() => false)) return ca;
    }
    return undefined;
  }
}

export function isWithinValidity(certificate: pkijs.Certificate, at: Date): boolean {
  return certificate.notBefore.value <= at && at <= certificate.notAfter.value;
}

function describe(error: unknown): string {
  if (error instanceof z.ZodError) {
    const issue = error.issues[0];
    return `${issue.path.join('.') || 'manifest'}: ${issue.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
