import { create } from 'xmlbuilder2';
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

/** A List answer as another SOAP stack writes it: other prefixes, the identifiers' namespace as the default. */
function listAnswer(content: string, prolog = ''): string {
  return `<?xml version="1.0"?>${prolog}<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ns2:ParticipantIdentifierPage xmlns:ns2="http://busdox.org/serviceMetadata/locator/1.0/" xmlns="http://busdox.org/transport/identifiers/1.0/" xmlns:ids="http://busdox.org/transport/identifiers/1.0/">${content}</ns2:ParticipantIdentifierPage></S:Body></S:Envelope>`;
}

const participant = (value: string) => `<ParticipantIdentifier scheme="iso6523-actorid-upis">${value}</ParticipantIdentifier>`;

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

  it('the List request, written without building a document, is the text xmlbuilder2 writes', () => {
    const withXmlbuilder = (smpId: string, next?: string) => {
      const doc = create({ version: '1.0', encoding: 'UTF-8' });
      const page = doc
        .ele('http://schemas.xmlsoap.org/soap/envelope/', 'soapenv:Envelope')
        .ele('http://schemas.xmlsoap.org/soap/envelope/', 'soapenv:Body')
        .ele('http://busdox.org/serviceMetadata/locator/1.0/', 'lrs:PageRequest');
      page.ele('http://busdox.org/serviceMetadata/locator/1.0/', 'lrs:ServiceMetadataPublisherID').txt(smpId);
      if (next !== undefined) page.ele('http://busdox.org/serviceMetadata/locator/1.0/', 'lrs:NextPageIdentifier').txt(next);
      return doc.end();
    };
    for (const [smpId, next] of [
      ['HERMES-SMP', undefined],
      ['HERMES-SMP', '2'],
      ['a<b&c>d"e\'f\r\n', 'a&b<x>'],
    ] as const) {
      expect(buildRequest({ operation: 'List', page: { smpId, ...(next === undefined ? {} : { nextPageIdentifier: next }) } })).toBe(
        withXmlbuilder(smpId, next),
      );
      expect(readRequest(buildRequest({ operation: 'List', page: { smpId, nextPageIdentifier: next } }))).toEqual({
        operation: 'List',
        page: { smpId: smpId.trim(), ...(next === undefined ? {} : { nextPageIdentifier: next }) },
      });
    }
    // xmlbuilder2 leaves what looks like an entity as it is (the SML would read `&`); this does not.
    expect(readRequest(buildRequest({ operation: 'List', page: { smpId: 'X', nextPageIdentifier: '&amp;' } }))).toEqual({
      operation: 'List',
      page: { smpId: 'X', nextPageIdentifier: '&amp;' },
    });
  });

  it('reads what XML allows in a page: the predefined entities, CDATA, comments, blanks around values', () => {
    const xml = listAnswer(
      `<ParticipantIdentifier scheme="iso6523-actorid-upis">\n 0208:<!-- split -->0123456749 </ParticipantIdentifier>
       <ParticipantIdentifier scheme="iso6523-actorid-upis"><![CDATA[0208:0200065765]]></ParticipantIdentifier>
       <ParticipantIdentifier scheme="a&amp;b">x&lt;y</ParticipantIdentifier>
       <ns2:NextPageIdentifier>page&amp;2</ns2:NextPageIdentifier>`,
    );
    expect(readListResponse(xml)).toEqual({ participants: ['0208:0123456749', '0208:0200065765', 'a&b::x<y'], nextPageIdentifier: 'page&2' });
  });

  // What an SML (or anything between it and hsmp) could answer to make a listing look shorter or
  // different than it is: each is refused (the reconciliation then ends and marks nothing), not
  // read as an empty page, the listing's end, or a participant less.
  it.each([
    ['a DTD with its own entities', listAnswer(participant('&a;'), '<!DOCTYPE S:Envelope [<!ENTITY a "0208:0123456749">]>')],
    [
      'entity expansion ("billion laughs")',
      listAnswer(
        participant('&c;'),
        '<!DOCTYPE S:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>',
      ),
    ],
    ['an external entity', listAnswer(participant('&x;'), '<!DOCTYPE S:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>')],
    ['a NUL character', listAnswer(participant('0208:0123\u0000456749'))],
    ['a participant holding an element', listAnswer(participant('<b>0208:0123456749</b>'))],
    ['a next page holding an element', listAnswer(`${participant('0208:0123456749')}<ns2:NextPageIdentifier><n>3</n></ns2:NextPageIdentifier>`)],
    [
      'two next pages',
      listAnswer(`${participant('0208:0123456749')}<ns2:NextPageIdentifier>3</ns2:NextPageIdentifier><ns2:NextPageIdentifier>4</ns2:NextPageIdentifier>`),
    ],
    [
      'two pages in one Body',
      listAnswer(participant('0208:0123456749')).replace(
        '</S:Body>',
        `<ns2:ParticipantIdentifierPage>${participant('0208:0200065765')}</ns2:ParticipantIdentifierPage></S:Body>`,
      ),
    ],
    ['two Bodies', listAnswer(participant('0208:0123456749')).replace('</S:Envelope>', '<S:Body/></S:Envelope>')],
    [
      'a participant of two schemes',
      listAnswer('<ParticipantIdentifier scheme="other" ids:scheme="iso6523-actorid-upis">0208:0123456749</ParticipantIdentifier>'),
    ],
    ['elements nested 500 deep', listAnswer(`${'<a>'.repeat(500)}${'</a>'.repeat(500)}`)],
    ['an element named __proto__', listAnswer(`<__proto__><polluted>1</polluted></__proto__>${participant('0208:0123456749')}`)],
  ])('refuses a List answer with %s', (_what, xml) => {
    expect(() => readListResponse(xml)).toThrow(SoapFormatError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
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
