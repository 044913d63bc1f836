import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { satisfiesSmlKeyRule } from '../participants/migration-key';
import { DevSmlRegistry } from './dev-sml-registry';
import {
  buildEmptyResponse,
  buildFault,
  buildListResponse,
  readRequest,
  SOAP_ACTIONS,
  type FaultKind,
  type MigrationRecordMessage,
  type SmlRequest,
} from '../sml/soap';

/**
 * The development SML (SPEC §9): the WSDL's PrepareToMigrate, Migrate and List over mutual TLS
 * on loopback, one registry per environment at `/{environment}/manageparticipantidentifier`.
 * It behaves as BDMSL does where hsmp can tell: the key rule ([ERR-106]), a second prepare
 * replaces the key, Migrate by another SMP with the prepared key moves the participant, a wrong
 * or missing key is refused ([ERR-111] / [ERR-101]), List pages the caller's participants.
 * Every Belgian participant belongs to `homeSmpId` until migrated; List shows the ones it has
 * a record of (prepared or moved), 50 a page as BDMSL does, NextPageIdentifier the next page
 * number; a million participants cost the same per page as a hundred (dev-sml-registry.ts).
 * Callers are SMPs known by their certificate's subject CN.
 *
 * Tests steer it (`faults`, `delayMs`, `assign`) to play an SML that is down, slow or confused.
 */
export interface DevSmlOptions {
  host: string;
  port: number;
  /** The TLS server certificate, key, and the CAs whose SMP certificates may call. */
  tls: { cert: string | Buffer; key: string | Buffer; clientCas: Array<string | Buffer> };
  /** Certificate subject CN → SMP id. */
  smps: Record<string, string>;
  homeSmpId: string;
  delayMs?: number;
  pageSize?: number;
  /** The journal through which the registries survive a restart (`npm start`); absent: memory only. */
  statePath?: string;
}

/** What the test hooks can make the next calls do. */
export type DevSmlFault =
  | 'internal-error'
  | 'stall'
  | 'drop-connection'
  | 'reject-keys'
  | 'unknown-smp'
  | 'empty-listing'
  /** List names pages 1, 2, 1, 2, …: a listing that goes round in a circle. */
  | 'cycling-pages'
  /** List answers a page of several megabytes. */
  | 'oversized-page';

export interface DevSml {
  url: string;
  endpoint(environment: Environment): string;
  /** Calls answered, by environment and operation. */
  calls: Array<{ environment: Environment; operation: string; smpId: string; participant?: string }>;
  delayMs: number;
  fault: DevSmlFault | undefined;
  /** The key the SML holds for a participant, if any. */
  preparedKey(environment: Environment, participant: string): string | undefined;
  owner(environment: Environment, participant: string): string;
  /** Moves a participant to another SMP without a migration (as another channel would). */
  assign(environment: Environment, participant: string, smpId: string): void;
  close(): Promise<void>;
}

const ACTION_OF = new Map(Object.entries(SOAP_ACTIONS).map(([operation, action]) => [action, operation]));
const MAX_BODY = 64 * 1024;

class Refusal extends Error {
  constructor(
    readonly kind: FaultKind,
    message: string,
  ) {
    super(message);
  }
}

export async function startDevSml(options: DevSmlOptions): Promise<DevSml> {
  const registry = new DevSmlRegistry(options.homeSmpId, options.statePath);
  const pageSize = options.pageSize ?? 50;
  const sockets = new Set<TLSSocket>();
  const state: Pick<DevSml, 'calls' | 'delayMs' | 'fault'> = { calls: [], delayMs: options.delayMs ?? 0, fault: undefined };

  const handle = (environment: Environment, caller: string, message: SmlRequest): string => {
    if (message.operation === 'List') {
      if (message.page.smpId !== caller) throw new Refusal('Unauthorized', `[ERR-101] the certificate does not belong to SMP ${message.page.smpId}`);
      const asked = message.page.nextPageIdentifier ?? '0';
      if (!/^\d{1,9}$/.test(asked)) throw new Refusal('BadRequest', '[ERR-106] invalid NextPageIdentifier');
      const page = Number(asked);
      if (state.fault === 'empty-listing') return buildListResponse({ smpId: caller, participants: [] });
      const found = registry.page(environment, caller, page, pageSize);
      let next = found.next === undefined ? undefined : String(found.next);
      if (state.fault === 'cycling-pages') next = page === 1 ? '2' : '1';
      const participants =
        state.fault === 'oversized-page' ? Array.from({ length: 40_000 }, (_, i) => `0208:${String(i).padStart(10, '0')}`) : found.participants;
      return buildListResponse({ smpId: caller, participants, nextPageIdentifier: next });
    }
    const { record } = message;
    checkRecord(record, caller);
    if (message.operation === 'PrepareToMigrate') {
      if (registry.ownerOf(environment, record.participant) !== caller)
        throw new Refusal('NotFound', `[ERR-110] the participant ${record.participant} is not registered by SMP ${caller}`);
      registry.prepare(environment, record.participant, record.migrationKey);
    } else {
      const prepared = registry.preparedKey(environment, record.participant);
      if (prepared === undefined) throw new Refusal('BadRequest', `[ERR-111] No migration record found for participant ${record.participant}`);
      if (registry.ownerOf(environment, record.participant) === caller)
        throw new Refusal('BadRequest', `[ERR-106] the participant ${record.participant} already belongs to SMP ${caller}`);
      if (prepared !== record.migrationKey) throw new Refusal('Unauthorized', `[ERR-101] the migration key for participant ${record.participant} is wrong`);
      registry.assign(environment, record.participant, caller);
    }
    return buildEmptyResponse();
  };

  const checkRecord = (record: MigrationRecordMessage, caller: string) => {
    if (state.fault === 'unknown-smp') throw new Refusal('NotFound', `[ERR-100] the SMP ${record.smpId} does not exist`);
    if (record.smpId !== caller) throw new Refusal('Unauthorized', `[ERR-101] the certificate does not belong to SMP ${record.smpId}`);
    if (!/^0208:[01]\d{9}$/.test(record.participant)) throw new Refusal('BadRequest', `[ERR-106] invalid participant identifier ${record.participant}`);
    if (state.fault === 'reject-keys' || !satisfiesSmlKeyRule(record.migrationKey))
      throw new Refusal('BadRequest', '[ERR-106] The migration key does not satisfy the required pattern');
  };

  const server = https.createServer(
    { cert: options.tls.cert, key: options.tls.key, ca: options.tls.clientCas, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(chunk);
      });
      req.on('end', () => {
        const fault = state.fault;
        if (fault === 'drop-connection') return void req.socket.destroy();
        if (fault === 'stall') return; // never answers; the caller's timeout must end it
        setTimeout(() => answer(req, res, Buffer.concat(chunks).toString('utf8')), state.delayMs);
      });
    },
  );
  const answer = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const send = (status: number, xml: string) => res.writeHead(status, { 'content-type': 'text/xml; charset=utf-8' }).end(xml);
    const environment = ENVIRONMENTS.find((e) => req.url === `/${e}/manageparticipantidentifier`);
    if (!environment || req.method !== 'POST') return send(404, buildFault({ kind: 'NotFound', message: 'no such endpoint' }));
    try {
      if (state.fault === 'internal-error') throw new Refusal('InternalError', '[ERR-105] technical error');
      const operation = ACTION_OF.get(String(req.headers.soapaction ?? '').replace(/^"|"$/g, ''));
      const message = readRequest(body);
      if (operation !== message.operation) throw new Refusal('BadRequest', `[ERR-106] SOAPAction does not match the ${message.operation} request`);
      const peer = (req.socket as TLSSocket).getPeerX509Certificate();
      const cn = peer && /(?:^|\n)CN=([^\n]+)/.exec(peer.subject)?.[1];
      const caller = cn ? options.smps[cn] : undefined;
      if (!caller) throw new Refusal('Unauthorized', '[ERR-102] the client certificate is not registered for any SMP');
      const participant = message.operation === 'List' ? undefined : message.record.participant;
      state.calls.push({ environment, operation: message.operation, smpId: caller, ...(participant ? { participant } : {}) });
      send(200, handle(environment, caller, message));
    } catch (error) {
      const refusal = error instanceof Refusal ? error : new Refusal('BadRequest', `[ERR-106] ${(error as Error).message}`);
      send(500, buildFault({ kind: refusal.kind, message: refusal.message }));
    }
  };
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const url = `https://${options.host === '127.0.0.1' ? 'localhost' : options.host}:${port}`;
  return Object.assign(state, {
    url,
    endpoint: (environment: Environment) => `${url}/${environment}/manageparticipantidentifier`,
    preparedKey: (environment: Environment, participant: string) => registry.preparedKey(environment, participant),
    owner: (environment: Environment, participant: string) => registry.ownerOf(environment, participant),
    assign: (environment: Environment, participant: string, smpId: string) => {
      registry.assign(environment, participant, smpId);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          registry.close();
          resolve();
        });
      }),
  });
}
