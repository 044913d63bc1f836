import type { IncomingMessage, ServerResponse } from 'node:http';
import accepts from 'accepts';
import { create } from 'xmlbuilder2';
import type { MigrationRecord } from '../domain/migration-record';
import type { HsmpError } from '../domain/errors';
import { PARTICIPANT_SCHEME } from '../domain/participant';

/** The bodies of SPEC §2: XML by default, JSON (RFC 9457 problems for errors) when asked. */
export type Format = 'xml' | 'json';

const OFFERED = ['application/xml', 'application/json', 'application/problem+json', 'text/xml'];

export function negotiateFormat(req: IncomingMessage): Format {
  const preferred = accepts(req).type(OFFERED);
  return preferred === 'application/json' || preferred === 'application/problem+json' ? 'json' : 'xml';
}

/** A response body, before it is sent: pure, so the shapes of SPEC §2 are testable without a server. */
export interface Body {
  status: number;
  contentType: string;
  text: string;
}

export function recordBody(format: Format, smpId: string, record: MigrationRecord): Body {
  if (format === 'json') {
    return {
      status: 200,
      contentType: 'application/json',
      text: JSON.stringify({
        serviceMetadataPublisherId: smpId,
        participantIdentifier: { scheme: PARTICIPANT_SCHEME, value: record.participant.value },
        enterpriseNumber: record.participant.enterpriseNumber,
        environment: record.environment,
        migrationKey: record.migrationKey,
      }),
    };
  }
  const doc = create({ version: '1.0', encoding: 'UTF-8' })
    .ele('MigrationRecord')
    .ele('ServiceMetadataPublisherID')
    .txt(smpId)
    .up()
    .ele('ParticipantIdentifier', { scheme: PARTICIPANT_SCHEME })
    .txt(record.participant.value)
    .up()
    .ele('MigrationKey')
    .txt(record.migrationKey)
    .up()
    .doc();
  return { status: 200, contentType: 'application/xml', text: doc.end({ prettyPrint: true }) };
}

export function errorBody(format: Format, error: HsmpError, requestId: string): Body {
  const participantId = error.participantId === undefined ? undefined : echoable(error.participantId);
  if (format === 'json') {
    return {
      status: error.status,
      contentType: 'application/problem+json',
      text: JSON.stringify({
        type: `urn:hsmp-mtci:problem:${error.code}`,
        title: error.message,
        status: error.status,
        code: error.code,
        ...(participantId === undefined ? {} : { participantId }),
        instance: `urn:uuid:${requestId}`,
      }),
    };
  }
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele('ErrorResponse');
  root.ele('Code').txt(error.code).up().ele('Message').txt(error.message).up();
  if (participantId !== undefined) root.ele('ParticipantIdentifier', { scheme: PARTICIPANT_SCHEME }).txt(participantId).up();
  return { status: error.status, contentType: 'application/xml', text: root.end({ prettyPrint: true }) };
}

export function sendRecord(res: ServerResponse, format: Format, smpId: string, record: MigrationRecord): void {
  send(res, recordBody(format, smpId, record));
}

export function sendError(res: ServerResponse, format: Format, error: HsmpError, requestId: string): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  send(res, errorBody(format, error, requestId));
}

/** HEAD gets the same headers and no body: Node's http server drops a HEAD response's body. */
function send(res: ServerResponse, { status, contentType, text }: Body): void {
  const bytes = Buffer.from(text, 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', `${contentType}; charset=utf-8`);
  res.setHeader('Content-Length', bytes.length);
  res.end(bytes);
}

const MAX_ECHO = 128;
// Characters XML 1.0 cannot carry at all: replaced, so that any garbage can be echoed.
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** The participant id as asked, made safe to echo: XML-representable and bounded. */
function echoable(raw: string): string {
  // Code points, not UTF-16 units, so a cut never splits a surrogate pair.
  const chars = Array.from(raw.replace(NOT_XML, '\uFFFD'));
  return chars.length > MAX_ECHO ? chars.slice(0, MAX_ECHO).join('') + '…' : chars.join('');
}
