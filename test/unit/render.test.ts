import { HsmpError, dependencyUnavailable } from '../../src/domain/errors';
import { errorBody, recordBody } from '../../src/http/render';

/** The bodies of SPEC §2, built without a server. */
const record = { participant: { enterpriseNumber: '0200065765', value: '0208:0200065765' }, environment: 'test' as const, migrationKey: 'aB3$cD4%<&>' };

describe('bodies', () => {
  it('the pair in XML (escaped) and JSON', () => {
    const xml = recordBody('xml', 'HERMES-SMP', record);
    expect(xml).toMatchObject({ status: 200, contentType: 'application/xml' });
    expect(xml.text).toContain('<ServiceMetadataPublisherID>HERMES-SMP</ServiceMetadataPublisherID>');
    expect(xml.text).toContain('<ParticipantIdentifier scheme="iso6523-actorid-upis">0208:0200065765</ParticipantIdentifier>');
    expect(xml.text).toContain('<MigrationKey>aB3$cD4%&lt;&amp;&gt;</MigrationKey>');
    expect(JSON.parse(recordBody('json', 'HERMES-SMP', record).text)).toEqual({
      serviceMetadataPublisherId: 'HERMES-SMP',
      participantIdentifier: { scheme: 'iso6523-actorid-upis', value: '0208:0200065765' },
      enterpriseNumber: '0200065765',
      environment: 'test',
      migrationKey: 'aB3$cD4%<&>',
    });
  });

  it('errors: XML with the participant, problem+json with code and instance; control characters never reach XML', () => {
    const error = new HsmpError('HSMP-001', { participantId: 'bad\u0000id' + 'x'.repeat(200) });
    const xml = errorBody('xml', error, 'r-1');
    expect(xml.status).toBe(404);
    expect(xml.text).toContain('<Code>HSMP-001</Code>');
    expect(xml.text).toMatch(/<ParticipantIdentifier scheme="iso6523-actorid-upis">bad\uFFFDidx+…<\/ParticipantIdentifier>/);
    const json = JSON.parse(errorBody('json', error, 'r-1').text);
    expect(json).toMatchObject({ type: 'urn:hsmp-mtci:problem:HSMP-001', status: 404, code: 'HSMP-001', instance: 'urn:uuid:r-1' });
    expect(Array.from(json.participantId as string)).toHaveLength(129);
  });

  it('a 503 names no dependency', () => {
    const body = errorBody('json', dependencyUnavailable('database', new Error('ECONNREFUSED 10.0.0.5:5432')), 'r-2');
    expect(body.status).toBe(503);
    expect(body.text).not.toMatch(/database|10\.0\.0\.5/);
  });
});
