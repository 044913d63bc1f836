import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import type { Environment } from '../domain/environment';
import { signCrl } from './revocation-documents';

/**
 * The development PKI of SPEC §6, made with node-forge: a root, an AP issuing CA and an SMP
 * issuing CA per environment, a TLS server certificate for localhost, and one client
 * certificate for every case of SPEC §2. Client certificates point their OCSP (AIA) and CRL
 * (distribution point) locations at `revocationBaseUrl`, where the dev responder answers.
 * Nothing here is secret in any real sense, and all of it stays out of git (certs/dev/).
 */
export const CLIENT_CASES = [
  'ap-production',
  'ap-test',
  'smp-production',
  'smp-test',
  'smp-new',
  'expired',
  'not-yet-valid',
  'untrusted',
  'revoked',
  'revocation-unreachable',
] as const;
export type ClientCase = (typeof CLIENT_CASES)[number];

export const DEV_CAS = ['root-production', 'ap-production', 'smp-production', 'root-test', 'ap-test', 'smp-test'] as const;
export type DevCa = (typeof DEV_CAS)[number];

export interface DevPkiIndex {
  generatedAt: string;
  revocationBaseUrl: string;
  /** Revoked serials (hex, as in the DER INTEGER) per issuing CA. */
  revoked: Partial<Record<DevCa, string[]>>;
  /** Subject CN (seat id) of each client certificate. */
  seatIds: Record<ClientCase, string>;
}

export interface DevPkiPaths {
  dir: string;
  manifest: string;
  serverCert: string;
  serverKey: string;
  serverCa: string;
  index: string;
  caCert(ca: DevCa): string;
  caKey(ca: DevCa): string;
  clientCert(c: ClientCase): string;
  clientKey(c: ClientCase): string;
  crl(ca: DevCa): string;
}

export function devPkiPaths(dir: string): DevPkiPaths {
  return {
    dir,
    manifest: path.join(dir, 'manifest.json'),
    serverCert: path.join(dir, 'server', 'server.pem'),
    serverKey: path.join(dir, 'server', 'server.key'),
    serverCa: path.join(dir, 'server', 'ca.pem'),
    index: path.join(dir, 'pki.json'),
    caCert: (ca) => path.join(dir, 'ca', `${ca}.pem`),
    caKey: (ca) => path.join(dir, 'ca', `${ca}.key`),
    clientCert: (c) => path.join(dir, 'clients', `${c}.pem`),
    clientKey: (c) => path.join(dir, 'clients', `${c}.key`),
    crl: (ca) => path.join(dir, 'crl', `${ca}.crl`),
  };
}

interface Issued {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

const DAY = 24 * 3600 * 1000;
/** Where a certificate points whose revocation responder must be unreachable: the discard port, closed. */
const UNREACHABLE_BASE_URL = 'http://127.0.0.1:9';

export interface GenerateOptions {
  dir: string;
  revocationBaseUrl: string;
  now?: Date;
}

export async function generateDevPki({ dir, revocationBaseUrl, now = new Date() }: GenerateOptions): Promise<DevPkiIndex> {
  const paths = devPkiPaths(dir);
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['ca', 'server', 'clients', 'crl']) mkdirSync(path.join(dir, sub), { recursive: true });

  const validFor = (days: number) => ({ from: new Date(now.getTime() - DAY), to: new Date(now.getTime() + days * DAY) });
  const cas = {} as Record<DevCa, Issued>;
  for (const environment of ['production', 'test'] as Environment[]) {
    const suffix = environment === 'test' ? ' TEST' : '';
    const root = selfSigned(`HSMP DEV Root${suffix} CA`, validFor(3650));
    cas[`root-${environment}`] = root;
    cas[`ap-${environment}`] = issueCa(`HSMP DEV ACCESS POINT${suffix} CA`, root, validFor(3650));
    cas[`smp-${environment}`] = issueCa(`HSMP DEV SERVICE METADATA PUBLISHER${suffix} CA`, root, validFor(3650));
  }
  // Same name as the production AP CA, another key: only a signature check tells them apart.
  const impostor = issueCa(`HSMP DEV ACCESS POINT CA`, selfSigned('HSMP DEV Root CA', validFor(3650)), validFor(3650));

  const client = (seatId: string, issuer: Issued, issuerName: DevCa, validity: { from: Date; to: Date }, base = revocationBaseUrl) =>
    issueClient(seatId, issuer, validity, { ocsp: `${base}/ocsp/${issuerName}`, crl: `${base}/crl/${issuerName}.crl` });
  const clients: Record<ClientCase, Issued> = {
    'ap-production': client('PBE000001', cas['ap-production'], 'ap-production', validFor(365)),
    'ap-test': client('PBE000002', cas['ap-test'], 'ap-test', validFor(365)),
    // hsmp's own SMP certificates, presented to the development SML of each environment.
    'smp-production': client('SBE000003', cas['smp-production'], 'smp-production', validFor(365)),
    'smp-test': client('SBE000009', cas['smp-test'], 'smp-test', validFor(365)),
    // The new SMP that completes a migration (Migrate) in the development SML.
    'smp-new': client('SBE000010', cas['smp-test'], 'smp-test', validFor(365)),
    expired: client('PBE000004', cas['ap-production'], 'ap-production', { from: new Date(now.getTime() - 30 * DAY), to: new Date(now.getTime() - DAY) }),
    'not-yet-valid': client('PBE000005', cas['ap-production'], 'ap-production', {
      from: new Date(now.getTime() + DAY),
      to: new Date(now.getTime() + 30 * DAY),
    }),
    untrusted: client('PBE000006', impostor, 'ap-production', validFor(365)),
    revoked: client('PBE000007', cas['ap-production'], 'ap-production', validFor(365)),
    'revocation-unreachable': client('PBE000008', cas['ap-production'], 'ap-production', validFor(365), UNREACHABLE_BASE_URL),
  };

  const serverRoot = selfSigned('HSMP DEV TLS Server Root', validFor(3650));
  const server = issueServer(serverRoot, validFor(365));

  const pem = forge.pki.certificateToPem;
  const keyPem = forge.pki.privateKeyToPem;
  for (const ca of DEV_CAS) {
    writeFileSync(paths.caCert(ca), pem(cas[ca].cert));
    writeFileSync(paths.caKey(ca), keyPem(cas[ca].key), { mode: 0o600 });
  }
  for (const c of CLIENT_CASES) {
    writeFileSync(paths.clientCert(c), pem(clients[c].cert));
    writeFileSync(paths.clientKey(c), keyPem(clients[c].key), { mode: 0o600 });
  }
  writeFileSync(paths.serverCert, pem(server.cert));
  writeFileSync(paths.serverKey, keyPem(server.key), { mode: 0o600 });
  writeFileSync(paths.serverCa, pem(serverRoot.cert));
  writeFileSync(
    paths.manifest,
    JSON.stringify(
      { cas: DEV_CAS.map((ca) => ({ file: path.relative(dir, paths.caCert(ca)), role: ca.split('-')[0], environment: ca.split('-')[1] })) },
      null,
      2,
    ),
  );

  const index: DevPkiIndex = {
    generatedAt: now.toISOString(),
    revocationBaseUrl,
    revoked: { 'ap-production': [clients.revoked.cert.serialNumber] },
    seatIds: Object.fromEntries(CLIENT_CASES.map((c) => [c, (clients[c].cert.subject.getField('CN') as { value: string }).value])) as Record<
      ClientCase,
      string
    >,
  };
  writeFileSync(paths.index, JSON.stringify(index, null, 2));
  for (const ca of ['ap-production', 'ap-test', 'smp-production', 'smp-test'] as DevCa[]) {
    writeFileSync(paths.crl(ca), await signCrl(readFileSync(paths.caCert(ca), 'utf8'), readFileSync(paths.caKey(ca), 'utf8'), index.revoked[ca] ?? [], now));
  }
  return index;
}

/** The index of an existing dev PKI, or undefined when it is missing, older than its cases, made for another URL or about to expire. */
export function readDevPki(dir: string, revocationBaseUrl: string, now = new Date()): DevPkiIndex | undefined {
  const paths = devPkiPaths(dir);
  if (!existsSync(paths.index) || !existsSync(paths.serverKey)) return undefined;
  try {
    const index = JSON.parse(readFileSync(paths.index, 'utf8')) as DevPkiIndex;
    const ageDays = (now.getTime() - Date.parse(index.generatedAt)) / DAY;
    const complete = CLIENT_CASES.every((c) => c in index.seatIds && existsSync(paths.clientCert(c)));
    return complete && index.revocationBaseUrl === revocationBaseUrl && ageDays >= 0 && ageDays < 300 ? index : undefined;
  } catch {
    return undefined;
  }
}

export async function ensureDevPki(options: GenerateOptions): Promise<DevPkiIndex> {
  return readDevPki(options.dir, options.revocationBaseUrl, options.now) ?? generateDevPki(options);
}

function newKeyPair(): forge.pki.rsa.KeyPair {
  // node-forge hands this to Node's native generateKeyPairSync when it can.
  return forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // a positive INTEGER without a leading zero byte
  bytes[0] |= 0x10;
  return bytes.toString('hex');
}

function build(
  subjectCn: string,
  keys: forge.pki.rsa.KeyPair,
  issuer: { cert?: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey; subject?: forge.pki.CertificateField[] },
  validity: { from: Date; to: Date },
  extensions: object[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = validity.from;
  cert.validity.notAfter = validity.to;
  const subject = [
    { shortName: 'C', value: 'BE' },
    { shortName: 'O', value: 'hsmp-mtci development' },
    { shortName: 'CN', value: subjectCn },
  ];
  cert.setSubject(subject);
  cert.setIssuer(issuer.cert ? issuer.cert.subject.attributes : subject);
  cert.setExtensions([...extensions, { name: 'subjectKeyIdentifier' }]);
  cert.sign(issuer.key, forge.md.sha256.create());
  return cert;
}

function selfSigned(cn: string, validity: { from: Date; to: Date }): Issued {
  const keys = newKeyPair();
  const cert = build(cn, keys, { key: keys.privateKey }, validity, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  return { cert, key: keys.privateKey };
}

function issueCa(cn: string, parent: Issued, validity: { from: Date; to: Date }): Issued {
  const keys = newKeyPair();
  const cert = build(cn, keys, parent, validity, [
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
  ]);
  return { cert, key: keys.privateKey };
}

function issueClient(seatId: string, issuer: Issued, validity: { from: Date; to: Date }, revocation: { ocsp: string; crl: string }): Issued {
  const keys = newKeyPair();
  const cert = build(seatId, keys, issuer, validity, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'cRLDistributionPoints', altNames: [{ type: 6, value: revocation.crl }] },
    authorityInfoAccess(revocation.ocsp),
  ]);
  return { cert, key: keys.privateKey };
}

function issueServer(issuer: Issued, validity: { from: Date; to: Date }): Issued {
  const keys = newKeyPair();
  const cert = build('localhost', keys, issuer, validity, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: 'localhost' },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    },
  ]);
  return { cert, key: keys.privateKey };
}

/** node-forge has no builder for AIA: SEQUENCE { SEQUENCE { id-ad-ocsp, [6] uri } }. */
function authorityInfoAccess(ocspUrl: string): object {
  const { asn1 } = forge;
  const value = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer('1.3.6.1.5.5.7.48.1').getBytes()),
      // [6] uniformResourceIdentifier: a context tag number, which node-forge's typings only know as a universal type.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, ocspUrl),
    ]),
  ]);
  return { id: '1.3.6.1.5.5.7.1.1', value: asn1.toDer(value).getBytes() };
}
