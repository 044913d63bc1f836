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
  if (request.operation === 'List') return buildListRequest(request.page);
  return envelope((body) => {
    const element = request.operation === 'PrepareToMigrate' ? 'lrs:PrepareMigrationRecord' : 'lrs:CompleteMigrationRecord';
    const record = body.ele(LOCATOR_NS, element);
    record.ele(LOCATOR_NS, 'lrs:ServiceMetadataPublisherID').txt(request.record.smpId);
    record.ele(IDENTIFIERS_NS, 'ids:ParticipantIdentifier', { scheme: PARTICIPANT_SCHEME }).txt(request.record.participant);
    record.ele(LOCATOR_NS, 'lrs:MigrationKey').txt(request.record.migrationKey);
  });
}

// A reconciliation sends one List request a page (20 000 at a million participants): it is the
// same text xmlbuilder2 writes (the unit tests compare them), without building a document for it.
const LIST_REQUEST_HEAD = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="${SOAP_ENVELOPE_NS}"><soapenv:Body><lrs:PageRequest xmlns:lrs="${LOCATOR_NS}">`;
const LIST_REQUEST_TAIL = '</lrs:PageRequest></soapenv:Body></soapenv:Envelope>';
const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const escapeText = (value: string) => value.replace(/[&<>]/g, (c) => TEXT_ESCAPES[c]);

function buildListRequest(page: PageRequestMessage): string {
  const next = page.nextPageIdentifier === undefined ? '' : `<lrs:NextPageIdentifier>${escapeText(page.nextPageIdentifier)}</lrs:NextPageIdentifier>`;
  return `${LIST_REQUEST_HEAD}<lrs:ServiceMetadataPublisherID>${escapeText(page.smpId)}</lrs:ServiceMetadataPublisherID>${next}${LIST_REQUEST_TAIL}`;
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
// this WSDL are unique, so they are matched by their local names. Every value stays text. The
// options are the cheapest that still read everything needed, measured on a List page of 50
// (docs/development/benchmarks.md): the parser's document-order output (no second pass that
// builds objects by name), prefixes left as written (only the names read are looked at), and of
// the attributes only `scheme`.
const parser = new XMLParser({
  preserveOrder: true,
  jPath: false,
  ignoreAttributes: (name: string) => name !== 'scheme' && !name.endsWith(':scheme'),
  attributeNamePrefix: '',
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
});

/** One node of the parser's ordered output: `{ [name]: children, ':@'?: attributes }`, or `{ '#text': value }`. */
type Item = Record<string, unknown>;
/** An element's content, in document order. */
type Content = Item[];

/** A SOAP message's Body, parsed once: what its fault, or its operation's answer, says is read from it. */
export interface SoapBody {
  readonly content: Content;
}

const ATTRIBUTES = ':@';
const TEXT = '#text';

/** The element's name as written (with its prefix), or undefined for text. */
function nameOf(item: Item): string | undefined {
  for (const key in item) if (key !== ATTRIBUTES) return key === TEXT ? undefined : key;
  return undefined;
}

function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(colon + 1);
}

/** The content of the one child element named `local` (any prefix); two of them are refused. */
function only(content: Content, local: string): Content | undefined {
  let found: Content | undefined;
  for (const item of content) {
    const name = nameOf(item);
    if (name === undefined || localName(name) !== local) continue;
    if (found !== undefined) throw new SoapFormatError(`more than one ${local}`);
    found = item[name] as Content;
  }
  return found;
}

/** An element's text; an element inside it is refused (the WSDL's values are text). */
function textOf(content: Content | undefined, local: string): string | undefined {
  if (content === undefined) return undefined;
  let text = '';
  for (const item of content) {
    if (nameOf(item) !== undefined) throw new SoapFormatError(`${local} holds an element, not text`);
    text += item[TEXT] as string;
  }
  return text;
}

/**
 * Parses a SOAP message down to its Body. No separate well-formedness pass (it doubled the
 * cost, measured): what is not a SOAP envelope with one Body is refused here, and every value
 * read is checked by its reader. A DTD (which SOAP 1.1 forbids: it would bring its own
 * entities) and NUL characters (not XML) are refused before parsing.
 */
export function readBody(xml: string): SoapBody {
  if (xml.includes('\0')) throw new SoapFormatError('not XML: a NUL character');
  if (xml.includes('<!DOCTYPE')) throw new SoapFormatError('a SOAP message carries no document type declaration');
  let document: Content;
  try {
    document = parser.parse(xml) as Content;
  } catch (error) {
    throw new SoapFormatError(`not XML: ${(error as Error).message}`);
  }
  const envelope = only(document, 'Envelope');
  const body = envelope && only(envelope, 'Body');
  if (body === undefined) throw new SoapFormatError('no SOAP Envelope/Body');
  return { content: body };
}

/** `0208:…` for the Peppol scheme (as hsmp writes participants), `scheme::value` for any other. */
function identifierOf(item: Item, name: string): string {
  const value = textOf(item[name] as Content, 'ParticipantIdentifier') ?? '';
  const attributes = item[ATTRIBUTES] as Record<string, string> | undefined;
  let scheme: string | undefined;
  // Only `scheme` (with or without a prefix) is kept by the parser.
  for (const key in attributes) {
    if (scheme !== undefined && scheme !== attributes[key]) throw new SoapFormatError('a ParticipantIdentifier with two schemes');
    scheme = attributes[key];
  }
  return scheme === undefined || scheme.toLowerCase() === PARTICIPANT_SCHEME ? value : `${scheme}::${value}`;
}

/** The fault in a response body, if there is one. */
export function faultIn(body: SoapBody): SoapFault | undefined {
  const fault = only(body.content, 'Fault');
  if (!fault) return undefined;
  const detail = only(fault, 'detail') ?? [];
  const kind = FAULT_KINDS.find((k) => only(detail, `${k}Fault`) !== undefined);
  const detailed = kind && only(detail, `${kind}Fault`);
  const message = (detailed && textOf(only(detailed, 'FaultMessage'), 'FaultMessage')) || textOf(only(fault, 'faultstring'), 'faultstring') || '';
  const number = /^\s*\[ERR-(\d+)\]/.exec(message)?.[1];
  return { kind: kind ?? 'Unknown', message, ...(number ? { errorNumber: Number(number) } : {}) };
}

export function readFault(xml: string): SoapFault | undefined {
  return faultIn(readBody(xml));
}

/**
 * The List answer's page: its participants and the next page's identifier. A page named twice, a
 * second next page, or an element where a value should be are refused, not read as an empty
 * page or the listing's end.
 */
export function listPageIn(body: SoapBody): ParticipantPage {
  const page = only(body.content, 'ParticipantIdentifierPage');
  if (page === undefined) throw new SoapFormatError('no ParticipantIdentifierPage in the List response');
  const participants: string[] = [];
  let next: string | undefined;
  for (const item of page) {
    const name = nameOf(item);
    if (name === undefined) continue;
    const local = localName(name);
    if (local === 'ParticipantIdentifier') participants.push(identifierOf(item, name));
    else if (local === 'NextPageIdentifier') {
      if (next !== undefined) throw new SoapFormatError('more than one NextPageIdentifier');
      next = textOf(item[name] as Content, local);
    }
  }
  return { participants, ...(next ? { nextPageIdentifier: next } : {}) };
}

export function readListResponse(xml: string): ParticipantPage {
  return listPageIn(readBody(xml));
}

/** What the development SML reads: the operation named by the body's element. */
export function readRequest(xml: string): SmlRequest {
  const body = readBody(xml).content;
  const prepare = only(body, 'PrepareMigrationRecord');
  const record = prepare ?? only(body, 'CompleteMigrationRecord');
  if (record) {
    // The first ParticipantIdentifier, as the WSDL has one.
    let participant = '';
    for (const item of record) {
      const name = nameOf(item);
      if (name !== undefined && localName(name) === 'ParticipantIdentifier') {
        participant = identifierOf(item, name);
        break;
      }
    }
    return {
      operation: prepare ? 'PrepareToMigrate' : 'Migrate',
      record: {
        smpId: textOf(only(record, 'ServiceMetadataPublisherID'), 'ServiceMetadataPublisherID') ?? '',
        participant,
        migrationKey: textOf(only(record, 'MigrationKey'), 'MigrationKey') ?? '',
      },
    };
  }
  const page = only(body, 'PageRequest');
  if (page) {
    const next = textOf(only(page, 'NextPageIdentifier'), 'NextPageIdentifier');
    return {
      operation: 'List',
      page: { smpId: textOf(only(page, 'ServiceMetadataPublisherID'), 'ServiceMetadataPublisherID') ?? '', ...(next ? { nextPageIdentifier: next } : {}) },
    };
  }
  const names = body.map(nameOf).filter((name): name is string => name !== undefined);
  throw new SoapFormatError(`unsupported request element: ${names.map(localName).join(', ') || 'empty Body'}`);
}
