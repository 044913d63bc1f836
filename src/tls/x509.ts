import { createHash, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

// pkijs does its signature maths through WebCrypto: Node's, set once for the process.
pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto }));

export { pkijs };

const OID_COMMON_NAME = '2.5.4.3';
const OID_AUTHORITY_INFO_ACCESS = '1.3.6.1.5.5.7.1.1';
const OID_OCSP = '1.3.6.1.5.5.7.48.1';
const OID_CRL_DISTRIBUTION_POINTS = '2.5.29.31';
const GENERAL_NAME_URI = 6;

/** Parses one DER certificate; throws on anything that is not exactly one. */
export function parseCertificate(der: Uint8Array): pkijs.Certificate {
  const asn1 = asn1js.fromBER(der);
  if (asn1.offset === -1 || asn1.offset !== der.byteLength) throw new Error('not a single DER object');
  return new pkijs.Certificate({ schema: asn1.result });
}

export function parsePemCertificates(pem: string): Uint8Array[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new Uint8Array(Buffer.from(block.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')));
}

export function sha256Hex(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

export function commonName(name: pkijs.RelativeDistinguishedNames): string | undefined {
  const attribute = name.typesAndValues.find((tv) => tv.type === OID_COMMON_NAME);
  return attribute?.value.valueBlock.value;
}

export function serialHex(certificate: pkijs.Certificate): string {
  return Buffer.from(certificate.serialNumber.valueBlock.valueHexView).toString('hex');
}

function extension(certificate: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  return certificate.extensions?.find((e) => e.extnID === oid);
}

function httpUrl(value: unknown): string | undefined {
  return typeof value === 'string' && /^https?:\/\//i.test(value) ? value : undefined;
}

export function ocspUrls(certificate: pkijs.Certificate): string[] {
  const aia = extension(certificate, OID_AUTHORITY_INFO_ACCESS)?.parsedValue as pkijs.InfoAccess | undefined;
  return (aia?.accessDescriptions ?? [])
    .filter((d) => d.accessMethod === OID_OCSP && d.accessLocation.type === GENERAL_NAME_URI)
    .map((d) => httpUrl(d.accessLocation.value))
    .filter((u): u is string => u !== undefined);
}

export function crlUrls(certificate: pkijs.Certificate): string[] {
  const dps = extension(certificate, OID_CRL_DISTRIBUTION_POINTS)?.parsedValue as pkijs.CRLDistributionPoints | undefined;
  const urls: string[] = [];
  for (const dp of dps?.distributionPoints ?? []) {
    if (!Array.isArray(dp.distributionPoint)) continue;
    for (const name of dp.distributionPoint) {
      const url = name.type === GENERAL_NAME_URI ? httpUrl(name.value) : undefined;
      if (url) urls.push(url);
    }
  }
  return urls;
}
