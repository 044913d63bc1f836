import { SmlFault, SmlUnavailable } from '../../src/sml/client';
import { classifySmlError } from '../../src/sml/preparer';
import {
  buildEmptyResponse,
  buildFault,
  buildListResponse,
  buildRequest,
  readFault,
  readListResponse,
  readRequest,
  SOAP_ACTIONS,
  SoapFormatError,
} from '../../src/sml/soap';

/** The SML's SOAP messages (sml/wsdl/), built and read without servers. */
describe('SML SOAP messages', () => {
  const record = { smpId: 'HERMES-SMP', participant: '0208:0123456749', migrationKey: 'aB3$cD4%eF5(gH6)[]{}*^-!' };

  it('PrepareToMigrate is a PrepareMigrationRecord in the WSDL namespaces, and reads back the same', () => {
    const xml = buildRequest({ operation: 'PrepareToMigrate', record });
    expect(xml).toContain('<lrs:PrepareMigrationRecord xmlns:lrs="http://busdox.org/serviceMetadata/locator/1.0/">');
    expect(xml).toContain(
      '<ids:ParticipantIdentifier xmlns:ids="http://busdox.org/transport/identifiers/1.0/" scheme="iso6523-actorid-upis">0208:0123456749</ids:ParticipantIdentifier>',
    );
    expect(readRequest(xml)).toEqual({ operation: 'PrepareToMigrate', record });
    expect(readRequest(buildRequest({ operation: 'Migrate', record }))).toEqual({ operation: 'Migrate', record });
  });

  it('keys with XML-special characters survive the trip', () => {
    const tricky = { ...record, migrationKey: 'a<b&c>d"e\'fAB12' };
    expect(readRequest(buildRequest({ operation: 'PrepareToMigrate', record: tricky }))).toEqual({ operation: 'PrepareToMigrate', record: tricky });
  });

  it("SOAPAction values keep the WSDL's nine blanks", () => {
    expect(SOAP_ACTIONS.PrepareToMigrate).toBe('http://busdox.org/serviceMetadata/ManageBusinessIdentifierService/1.0/         :prepareMigrateIn');
    expect(SOAP_ACTIONS.List.endsWith('         :listIn')).toBe(true);
  });

  it('List: request with and without a page, response with participants and the next page', () => {
    expect(readRequest(buildRequest({ operation: 'List', page: { smpId: 'HERMES-SMP' } }))).toEqual({ operation: 'List', page: { smpId: 'HERMES-SMP' } });
    expect(readRequest(buildRequest({ operation: 'List', page: { smpId: 'X', nextPageIdentifier: '100' } }))).toEqual({
      operation: 'List',
      page: { smpId: 'X', nextPageIdentifier: '100' },
    });
    const page = readListResponse(buildListResponse({ smpId: 'HERMES-SMP', participants: ['0208:0123456749', '0208:0200065765'], nextPageIdentifier: '2' }));
    expect(page).toEqual({ participants: ['0208:0123456749', '0208:0200065765'], nextPageIdentifier: '2' });
    expect(readListResponse(buildListResponse({ smpId: 'HERMES-SMP', participants: [] }))).toEqual({ participants: [] });
  });

  it('reads a List page from another SOAP stack (other prefixes, another scheme, a number-looking page id)', () => {
    const xml = `<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns2:ParticipantIdentifierPage xmlns:ns2="http://busdox.org/serviceMetadata/locator/1.0/" xmlns="http://busdox.org/transport/identifiers/1.0/">
      <ParticipantIdentifier scheme="iso6523-actorid-upis">0208:0123456749</ParticipantIdentifier>
      <ParticipantIdentifier scheme="other-scheme">0088:123</ParticipantIdentifier>
      <ns2:NextPageIdentifier>007</ns2:NextPageIdentifier></ns2:ParticipantIdentifierPage></S:Body></S:Envelope>`;
    expect(readListResponse(xml)).toEqual({ participants: ['0208:0123456749', 'other-scheme::0088:123'], nextPageIdentifier: '007' });
  });

  it('faults: kind from the detail element, BDMSL error number from the message', () => {
    expect(readFault(buildFault({ kind: 'BadRequest', message: '[ERR-106] The migration key does not satisfy the required pattern' }))).toEqual({
      kind: 'BadRequest',
      message: '[ERR-106] The migration key does not satisfy the required pattern',
      errorNumber: 106,
    });
    expect(readFault(buildFault({ kind: 'InternalError', message: 'boom' }))).toEqual({ kind: 'InternalError', message: 'boom' });
    const bare =
      '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>[ERR-102] no</faultstring></soap:Fault></soap:Body></soap:Envelope>';
    expect(readFault(bare)).toEqual({ kind: 'Unknown', message: '[ERR-102] no', errorNumber: 102 });
    expect(readFault(buildEmptyResponse())).toBeUndefined();
  });

  it('refuses what is not a SOAP message', () => {
    expect(() => readFault('<html>502 Bad Gateway')).toThrow(SoapFormatError);
    expect(() => readFault('<html><body>proxy error</body></html>')).toThrow(/no SOAP Envelope\/Body/);
    expect(() => readListResponse(buildEmptyResponse())).toThrow(/no ParticipantIdentifierPage/);
    expect(() => readRequest(buildEmptyResponse())).toThrow(/unsupported request element/);
  });
});

describe('what an SML answer means to hsmp', () => {
  it.each([
    [new SmlFault('PrepareToMigrate', 'NotFound', '[ERR-110] not registered', 110), 'not-ours'],
    [new SmlFault('PrepareToMigrate', 'BadRequest', '[ERR-106] key', 106), 'key-rule'],
    [new SmlFault('PrepareToMigrate', 'Unauthorized', '[ERR-101] not yours', 101), 'deployment'],
    [new SmlFault('PrepareToMigrate', 'Unknown', '[ERR-102] certificate', 102), 'deployment'],
    [new SmlFault('PrepareToMigrate', 'NotFound', '[ERR-100] SMP not found', 100), 'deployment'],
    [new SmlFault('PrepareToMigrate', 'InternalError', '[ERR-105] technical', 105), 'unavailable'],
    [new SmlFault('PrepareToMigrate', 'BadRequest', 'no number'), 'unavailable'],
    [new SmlUnavailable('PrepareToMigrate', 'timeout', 'slow'), 'unavailable'],
    [new Error('anything else'), 'unavailable'],
  ])('%s → %s', (error, trouble) => {
    expect(classifySmlError(error)).toBe(trouble);
  });
});
