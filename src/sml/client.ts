import { Agent, request, type Dispatcher } from 'undici';
import { ServiceError } from '../domain/errors';
import {
  buildRequest,
  readFault,
  readListResponse,
  SOAP_ACTIONS,
  SoapFormatError,
  type FaultKind,
  type MigrationRecordMessage,
  type ParticipantPage,
  type SmlOperation,
  type SmlRequest,
} from './soap';

/**
 * One environment's SML participant service over mutual TLS, with the deployment's SMP
 * certificate. Every call is bounded by `timeoutMs` from the first byte sent to the last byte
 * read, and ends in a result or in one of the two errors below, never in anything else.
 */
export interface SmlEndpoint {
  /** `…/manageparticipantidentifier` */
  url: string;
  /** The SMP certificate and key (PEM) the SML knows this SMP by. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM bundle trusted for the SML's server certificate; absent: the system's CAs. */
  ca?: string | Buffer;
}

/** The SML answered with a SOAP fault. */
export class SmlFault extends ServiceError {
  constructor(
    readonly operation: SmlOperation,
    readonly kind: FaultKind | 'Unknown',
    message: string,
    readonly errorNumber?: number,
  ) {
    super('sml-unavailable', 503, `SML ${operation} refused: ${kind}Fault: ${message}; nothing was changed`);
  }
}

/** No usable answer: unreachable, TLS refused, timed out, or an answer that is not the WSDL's. */
export class SmlUnavailable extends ServiceError {
  constructor(
    readonly operation: SmlOperation,
    readonly reason: 'timeout' | 'network' | 'protocol',
    message: string,
    options?: { cause?: unknown },
  ) {
    super('sml-unavailable', 503, `SML ${operation} unavailable (${reason}): ${message}; nothing was changed`, options);
  }
}

export interface SmlCallObserver {
  (operation: SmlOperation, outcome: string, seconds: number): void;
}

export interface SmlClientOptions {
  timeoutMs: number;
  observe?: SmlCallObserver;
  /** Responses larger than this are refused (a List page of 1000 ids is ~80 kB). */
  maxResponseBytes?: number;
}

export class SmlClient {
  private readonly dispatcher: Dispatcher;

  constructor(
    readonly endpoint: SmlEndpoint,
    private readonly options: SmlClientOptions,
  ) {
    this.dispatcher = new Agent({
      connect: { cert: endpoint.cert, key: endpoint.key, ...(endpoint.ca ? { ca: endpoint.ca } : {}), minVersion: 'TLSv1.2' },
      connections: 8,
    });
  }

  prepareToMigrate(record: MigrationRecordMessage): Promise<void> {
    return this.call({ operation: 'PrepareToMigrate', record }).then(() => undefined);
  }

  /** Used by the new SMP (the development SML's tests and `npm start`'s example), never by hsmp's hot path. */
  migrate(record: MigrationRecordMessage): Promise<void> {
    return this.call({ operation: 'Migrate', record }).then(() => undefined);
  }

  /** One List page; `maxBytes` bounds the page (and the time its parsing holds the event loop). */
  async list(smpId: string, nextPageIdentifier?: string, options: { maxBytes?: number } = {}): Promise<ParticipantPage> {
    const xml = await this.call({ operation: 'List', page: { smpId, nextPageIdentifier } }, options.maxBytes);
    try {
      return readListResponse(xml);
    } catch (error) {
      throw new SmlUnavailable('List', 'protocol', (error as Error).message, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  private async call(message: SmlRequest, maxBytes?: number): Promise<string> {
    const { operation } = message;
    const started = process.hrtime.bigint();
    let outcome = 'ok';
    try {
      const xml = await this.exchange(message, maxBytes);
      const fault = this.faultOf(operation, xml.body, xml.status);
      if (fault) throw fault;
      return xml.body;
    } catch (error) {
      outcome = error instanceof SmlFault ? `fault_${error.kind}` : error instanceof SmlUnavailable ? error.reason : 'error';
      throw error;
    } finally {
      this.options.observe?.(operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async exchange(message: SmlRequest, maxBytes?: number): Promise<{ status: number; body: string }> {
    const { operation } = message;
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const limit = maxBytes ?? this.options.maxResponseBytes ?? 16 * 1024 * 1024;
    try {
      const response = await request(this.endpoint.url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `"${SOAP_ACTIONS[operation]}"`, accept: 'text/xml' },
        body: buildRequest(message),
        signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) throw new SmlUnavailable(operation, 'protocol', `response larger than ${limit} bytes`);
        chunks.push(chunk);
      }
      return { status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') };
    } catch (error) {
      if (error instanceof SmlUnavailable) throw error;
      if (signal.aborted) throw new SmlUnavailable(operation, 'timeout', `no answer within ${this.options.timeoutMs} ms`, { cause: error });
      throw new SmlUnavailable(operation, 'network', (error as Error).message, { cause: error });
    }
  }

  private faultOf(operation: SmlOperation, body: string, status: number): SmlFault | SmlUnavailable | undefined {
    let fault;
    try {
      fault = readFault(body);
    } catch (error) {
      const detail = error instanceof SoapFormatError ? error.message : String(error);
      return new SmlUnavailable(operation, 'protocol', `HTTP ${status}, ${detail}`, { cause: error });
    }
    if (fault) return new SmlFault(operation, fault.kind, fault.message, fault.errorNumber);
    if (status !== 200) return new SmlUnavailable(operation, 'protocol', `HTTP ${status} without a SOAP fault`);
    return undefined;
  }
}
