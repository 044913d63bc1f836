import * as asn1js from 'asn1js';
import { parseCertificate, parsePemCertificates, pkijs } from '../tls/x509';
import { importSigningKey } from './signing-key';

/**
 * Signed revocation documents for the development PKI: a CRL per issuing CA and OCSP answers,
 * built with pkijs (node-forge makes neither).
 */
const HOUR = 3600 * 1000;
const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';

export async function signCrl(caCertPem: string, caKeyPem: string, revokedSerials: string[], now = new Date()): Promise<Buffer> {
  const ca = parseCertificate(parsePemCertificates(caCertPem)[0]);
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = ca.subject;
  crl.thisUpdate = new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: now });
  crl.nextUpdate = new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: new Date(now.getTime() + 24 * HOUR) });
  if (revokedSerials.length > 0) {
    crl.revokedCertificates = revokedSerials.map(
      (serial) =>
        new pkijs.RevokedCertificate({
          userCertificate: new asn1js.Integer({ valueHex: Buffer.from(serial, 'hex') }),
          revocationDate: new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: new Date(now.getTime() - HOUR) }),
        }),
    );
  }
  await crl.sign(await importSigningKey(caKeyPem), 'SHA-256');
  return Buffer.from((crl.toSchema(true) as asn1js.Sequence).toBER(false));
}

/** Answers an OCSP request for certificates of one CA: revoked when listed, good otherwise. */
export async function signOcspResponse(
  requestDer: Uint8Array,
  caCertPem: string,
  caKeyPem: string,
  revokedSerials: Set<string>,
  now = new Date(),
): Promise<Buffer> {
  const ca = parseCertificate(parsePemCertificates(caCertPem)[0]);
  const ocspRequest = pkijs.OCSPRequest.fromBER(requestDer);
  const basic = new pkijs.BasicOCSPResponse();
  basic.tbsResponseData.responderID = ca.subject;
  basic.tbsResponseData.producedAt = now;
  for (const { reqCert } of ocspRequest.tbsRequest.requestList) {
    const serial = Buffer.from(reqCert.serialNumber.valueBlock.valueHexView).toString('hex');
    const single = new pkijs.SingleResponse();
    single.certID = reqCert;
    single.certStatus = revokedSerials.has(serial)
      ? new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value: [new asn1js.GeneralizedTime({ valueDate: new Date(now.getTime() - HOUR) })] })
      : new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 } });
    single.thisUpdate = now;
    single.nextUpdate = new Date(now.getTime() + HOUR);
    basic.tbsResponseData.responses.push(single);
  }
  await basic.sign(await importSigningKey(caKeyPem), 'SHA-256');
  const response = new pkijs.OCSPResponse();
  response.responseStatus = new asn1js.Enumerated({ value: 0 });
  response.responseBytes = new pkijs.ResponseBytes({
    responseType: OCSP_BASIC,
    response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER(false) }),
  });
  return Buffer.from(response.toSchema().toBER(false));
}
