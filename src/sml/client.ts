import { Agent, request, type Dispatcher } from 'undici';
import { AdminProblem } from '../domain/errors';
import {
  buildRequest,
  faultIn,
  listPageIn,
  readBody,
  SOAP_ACTIONS,
  SoapFormatError,
  type FaultKind,
  type MigrationRecordMessage,
  type ParticipantPage,
  type SmlOperation,
  type SmlRequest,
  type SoapBody,
} from './soap';
import { scrubSecret } from './scrub';

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
const UNDICI_TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export class SmlFault extends AdminProblem {
  constructor(
    readonly operation: SmlOperation,
    readonly kind: FaultKind | 'Unknown',
    message: string,
    readonly errorNumber?: number,
  ) {
    super('sml-unavailable', `SML ${operation} refused: ${kind}Fault: ${message}; nothing was changed`);
  }
}

/** No usable answer: unreachable, TLS refused, timed out, or an answer that is not the WSDL's. */
export class SmlUnavailable extends AdminProblem {
  constructor(
    readonly operation: SmlOperation,
    readonly reason: 'timeout' | 'network' | 'protocol' | 'busy',
    message: string,
    options?: { cause?: unknown },
  ) {
    super('sml-unavailable', `SML ${operation} unavailable (${reason}): ${message}; nothing was changed`, options);
  }
}

export interface SmlCallObserver {
  (operation: SmlOperation, outcome: string, seconds: number): void;
}

export interface SmlClientOptions {
  /** Bound on one call from the moment it is made: queueing, connect, TLS handshake and answer. */
  timeoutMs: number;
  /**
   * Calls waiting for this SML at most; one more fails at once (503). During an SML outage a
   * first collection then waits at most `timeoutMs`, and no more than this many of them hold a
   * public connection meanwhile. Default 64.
   */
  maxInFlight?: number;
  observe?: SmlCallObserver;
  /** Responses larger than this are refused (a List page of 1000 ids is ~80 kB). */
  maxResponseBytes?: number;
}

/** Connections to one SML; calls beyond them queue (within their own deadline). */
const CONNECTIONS = 8;
const DEFAULT_MAX_IN_FLIGHT = 64;

export class SmlClient {
  private readonly dispatcher: Dispatcher;
  private readonly maxInFlight: number;
  private inFlight = 0;

  constructor(
    readonly endpoint: SmlEndpoint,
    private readonly options: SmlClientOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    // undici's own timeouts free its connections; they do not bound a call (see exchange).
    this.dispatcher = new Agent({
      connect: {
        cert: endpoint.cert,
        key: endpoint.key,
        ...(endpoint.ca ? { ca: endpoint.ca } : {}),
        minVersion: 'TLSv1.2',
        timeout: options.timeoutMs,
      },
      connections: CONNECTIONS,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
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
    const body = await this.call({ operation: 'List', page: { smpId, nextPageIdentifier } }, options.maxBytes);
    try {
      return listPageIn(body);
    } catch (error) {
      throw new SmlUnavailable('List', 'protocol', (error as Error).message, { cause: error });
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }

  /** The answer's Body (parsed once: it is read for a fault, then for the operation's answer). */
  private async call(message: SmlRequest, maxBytes?: number): Promise<SoapBody> {
    const { operation } = message;
    const started = process.hrtime.bigint();
    let outcome = 'ok';
    const admitted = this.inFlight < this.maxInFlight;
    if (admitted) this.inFlight++;
    try {
      if (!admitted) throw new SmlUnavailable(operation, 'busy', `${this.maxInFlight} calls already waiting for the SML`);
      const answer = await this.exchange(message, maxBytes);
      return this.bodyOf(operation, answer.body, answer.status, 'record' in message ? message.record.migrationKey : undefined);
    } catch (error) {
      outcome = error instanceof SmlFault ? `fault_${error.kind}` : error instanceof SmlUnavailable ? error.reason : 'error';
      throw error;
    } finally {
      if (admitted) this.inFlight--;
      this.options.observe?.(operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /**
   * The call, or a timeout at `timeoutMs` whatever undici is doing. undici honours an abort
   * only once the request has a connected socket: a call queued behind busy connections, or
   * waiting for a TLS handshake that never finishes, would otherwise wait for its connect
   * timeout and then for its turn. The abort still tells undici to drop the request.
   */
  private async exchange(message: SmlRequest, maxBytes?: number): Promise<{ status: number; body: string }> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new SmlUnavailable(message.operation, 'timeout', `no answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
    });
    try {
      return await Promise.race([this.send(message, controller.signal, maxBytes), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async send(message: SmlRequest, signal: AbortSignal, maxBytes?: number): Promise<{ status: number; body: string }> {
    const { operation } = message;
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
      // undici's own connect, headers and body timeouts are set to the same bound and may fire
      // just before our deadline: they are the same timeout, not a network failure.
      if (signal.aborted || UNDICI_TIMEOUTS.has((error as { code?: string }).code ?? ''))
        throw new SmlUnavailable(operation, 'timeout', `no answer within ${this.options.timeoutMs} ms`, { cause: error });
      throw new SmlUnavailable(operation, 'network', (error as Error).message, { cause: error });
    }
  }

  /**
   * The answer's Body, unless it is a fault or no SOAP answer. The SML's texts are scrubbed of
   * the key the call carried before they become an error's message, and the parser's error
   * (which may quote the answer) is not kept as its cause.
   */
  private bodyOf(operation: SmlOperation, xml: string, status: number, migrationKey: string | undefined): SoapBody {
    let body;
    let fault;
    try {
      body = readBody(xml);
      fault = faultIn(body);
    } catch (error) {
      const detail = error instanceof SoapFormatError ? error.message : String(error);
      throw new SmlUnavailable(operation, 'protocol', `HTTP ${status}, ${scrubSecret(detail, migrationKey)}`);
    }
    if (fault) throw new SmlFault(operation, fault.kind, scrubSecret(fault.message, migrationKey), fault.errorNumber);
    if (status !== 200) throw new SmlUnavailable(operation, 'protocol', `HTTP ${status} without a SOAP fault`);
    return body;
  }
}
