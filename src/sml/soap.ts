import { XMLParser } from 'fast-xml-parser';
import { create } from 'xmlbuilder2';
import { PARTICIPANT_SCHEME } from '../domain/participant';

/**
 * The SOAP 1.1 messages of the SML's ManageBusinessIdentifierService (document/literal,
 * sml/wsdl/), built and read here and nowhere else: pure functions, no I/O, shared by the
 * client and the development SML.
 */
export const SOAP_ENVELOPE_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const LOCATOR_NS = 'http://busdox.org/serviceMetadata/locator/1.0/';
export const IDENTIFIERS_NS = 'http://busdox.org/transport/identifiers/1.0/';

export type SmlOperation = 'PrepareToMigrate' | 'Migrate' | 'List';

// The nine blanks before the colon are the WSDL's (and the real SML's): a SOAPAction without
// them is refused.
const ACTION_BASE = 'http://busdox.org/serviceMetadata/ManageBusinessIdentifierService/1.0/         :';
export const SOAP_ACTIONS: Record<SmlOperation, string> = {
  PrepareToMigrate: `${ACTION_BASE}prepareMigrateIn`,
  Migrate: `${ACTION_BASE}migrateIn`,
  List: `${ACTION_BASE}listIn`,
};

export const FAULT_KINDS = ['BadRequest', 'Unauthorized', 'NotFound', 'InternalError'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface MigrationRecordMessage {
  smpId: string;
  /** `0208:0123456789` */
  participant: string;
  migrationKey: string;
}

export interface PageRequestMessage {
  smpId: string;
  nextPageIdentifier?: string;
}

export interface ParticipantPage {
  participants: string[];
  nextPageIdentifier?: string;
}

export interface SoapFault {
  kind: FaultKind | 'Unknown';
  message: string;
  /** The BDMSL error number of a message beginning `[ERR-nnn]`. */
  errorNumber?: number;
}

export type SmlRequest = { operation: 'PrepareToMigrate' | 'Migrate'; record: MigrationRecordMessage } | { operation: 'List'; page: PageRequestMessage };

function envelope(fill: (body: ReturnType<typeof create>) => void): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const body = doc.ele(SOAP_ENVELOPE_NS, 'soapenv:Envelope').ele(SOAP_ENVELOPE_NS, 'soapenv:Body');
  fill(body);
  return doc.end();
}

export function buildRequest(request: SmlRequest): string {
  return envelope((body) => {
    if (request.operation === 'List') {
      const page = body.ele(LOCATOR_NS, 'lrs:PageRequest');
      page.ele(LOCATOR_NS, 'lrs:ServiceMetadataPublisherID').txt(request.page.smpId);
      if (request.page.nextPageIdentifier !== undefined) page.ele(LOCATOR_NS, 'lrs:NextPageIdentifier').txt(request.page.nextPageIdentifier);
      return;
    }
    const element = request.operation === 'PrepareToMigrate' ? 'lrs:PrepareMigrationRecord' : 'lrs:CompleteMigrationRecord';
    const record = body.ele(LOCATOR_NS, element);
    record.ele(LOCATOR_NS, 'lrs:ServiceMetadataPublisherID').txt(request.record.smpId);
    record.ele(IDENTIFIERS_NS, 'ids:ParticipantIdentifier', { scheme: PARTICIPANT_SCHEME }).txt(request.record.participant);
    record.ele(LOCATOR_NS, 'lrs:MigrationKey').txt(request.record.migrationKey);
  });
}

export function buildListResponse(page: ParticipantPage & { smpId: string }): string {
  return envelope((body) => {
    const out = body.ele(LOCATOR_NS, 'lrs:ParticipantIdentifierPage');
    for (const participant of page.participants) out.ele(IDENTIFIERS_NS, 'ids:ParticipantIdentifier', { scheme: PARTICIPANT_SCHEME }).txt(participant);
    out.ele(LOCATOR_NS, 'lrs:ServiceMetadataPublisherID').txt(page.smpId);
    if (page.nextPageIdentifier !== undefined) out.ele(LOCATOR_NS, 'lrs:NextPageIdentifier').txt(page.nextPageIdentifier);
  });
}

/** An empty output message: PrepareToMigrate and Migrate answer with an empty Body. */
export function buildEmptyResponse(): string {
  return envelope(() => undefined);
}

export function buildFault(fault: { kind: FaultKind; message: string }): string {
  return envelope((body) => {
    const element = body.ele(SOAP_ENVELOPE_NS, 'soapenv:Fault');
    element.ele('faultcode').txt(fault.kind === 'InternalError' ? 'soapenv:Server' : 'soapenv:Client');
    element.ele('faultstring').txt(fault.message);
    element.ele('detail').ele(LOCATOR_NS, `lrs:${fault.kind}Fault`).ele(LOCATOR_NS, 'lrs:FaultMessage').txt(fault.message);
  });
}

export class SoapFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SoapFormatError';
  }
}

// Namespace prefixes vary between SOAP stacks (soap:, S:, soapenv:, ns2:); the element names of
// this WSDL are unique, so they are matched without prefixes. Every value stays text.
const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => name === 'ParticipantIdentifier',
});

type Node = Record<string, unknown>;

function parseBody(xml: string): Node {
  // No separate well-formedness pass (it doubled the cost, measured): what is not a SOAP
  // envelope with a Body is refused below, and every value read is checked by its reader.
  let document: Node;
  try {
    document = parser.parse(xml) as Node;
  } catch (error) {
    throw new SoapFormatError(`not XML: ${(error as Error).message}`);
  }
  const body = (document.Envelope as Node | undefined)?.Body;
  if (body === undefined) throw new SoapFormatError('no SOAP Envelope/Body');
  return body === '' ? {} : (body as Node);
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Node)['#text'] === 'string') return (value as Node)['#text'] as string;
  return value === undefined ? undefined : '';
}

/** `0208:…` for the Peppol scheme (as hsmp writes participants), `scheme::value` for any other. */
function identifierOf(element: unknown): string {
  const scheme = element && typeof element === 'object' ? (element as Node)['@scheme'] : undefined;
  const value = text(element) ?? '';
  return typeof scheme !== 'string' || scheme.toLowerCase() === PARTICIPANT_SCHEME ? value : `${scheme}::${value}`;
}

/** The fault in a response body, if there is one. */
export function readFault(xml: string): SoapFault | undefined {
  const fault = parseBody(xml).Fault as Node | undefined;
  if (!fault) return undefined;
  const detail = (fault.detail ?? {}) as Node;
  const kind = FAULT_KINDS.find((k) => `${k}Fault` in detail);
  const message = (kind && text((detail[`${kind}Fault`] as Node | undefined)?.FaultMessage)) || text(fault.faultstring) || '';
  const number = /^\s*\[ERR-(\d+)\]/.exec(message)?.[1];
  return { kind: kind ?? 'Unknown', message, ...(number ? { errorNumber: Number(number) } : {}) };
}

export function readListResponse(xml: string): ParticipantPage {
  const page = parseBody(xml).ParticipantIdentifierPage as Node | undefined;
  if (page === undefined) throw new SoapFormatError('no ParticipantIdentifierPage in the List response');
  if (typeof page !== 'object') return { participants: [] };
  const participants = ((page.ParticipantIdentifier as unknown[] | undefined) ?? []).map((p) => identifierOf(p));
  const next = text(page.NextPageIdentifier);
  return { participants, ...(next ? { nextPageIdentifier: next } : {}) };
}

/** What the development SML reads: the operation named by the body's element. */
export function readRequest(xml: string): SmlRequest {
  const body = parseBody(xml);
  const record = (body.PrepareMigrationRecord ?? body.CompleteMigrationRecord) as Node | undefined;
  if (record) {
    const participant = (record.ParticipantIdentifier as unknown[] | undefined)?.[0];
    return {
      operation: body.PrepareMigrationRecord ? 'PrepareToMigrate' : 'Migrate',
      record: {
        smpId: text(record.ServiceMetadataPublisherID) ?? '',
        participant: identifierOf(participant),
        migrationKey: text(record.MigrationKey) ?? '',
      },
    };
  }
  const page = body.PageRequest as Node | undefined;
  if (page) {
    const next = text(page.NextPageIdentifier);
    return { operation: 'List', page: { smpId: text(page.ServiceMetadataPublisherID) ?? '', ...(next ? { nextPageIdentifier: next } : {}) } };
  }
  throw new SoapFormatError(`unsupported request element: ${Object.keys(body).join(', ') || 'empty Body'}`);
}
