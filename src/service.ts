import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createAdminApp } from './admin/admin-app';
import { createMetrics } from './admin/metrics';
import type { CollectionSteps } from './collection/flow';
import type { Config } from './config/config';
import { createPublicApp, type PublicRequest } from './http/public-app';
import type { Logger } from './log';
import { ParticipantRegistry, type CollectionContext } from './participants/registry';
import { MemoryCounters, QuotaGuard, QuotaPolicy, RedisCounters, type DailyCounters } from './quota';
import { openDatabase, type Database } from './store/database';
import { KeyCipher, loadKeyEncryptionKey } from './store/key-cipher';
import { migrate } from './store/migrate';
import { CertificateAuthenticator, CertificateSource, RevocationChecker, TrustStore } from './tls';

/** What the service needs that the configuration does not say: where its certificates are. */
export interface ServiceFiles {
  tlsCert: string;
  tlsKey: string;
  trustStoreManifest: string;
}

export interface RunningService {
  publicUrl: string;
  adminUrl: string;
  database: Database;
  registry: ParticipantRegistry;
  policy: QuotaPolicy;
  counters: DailyCounters;
  close(): Promise<void>;
}

export interface ServiceOptions {
  logger: Logger;
  /** Injected clock, for the Brussels day boundary in tests. */
  now?: () => Date;
}

export async function startService(config: Config, files: ServiceFiles, { logger, now }: ServiceOptions): Promise<RunningService> {
  const trustStore = await TrustStore.load(files.trustStoreManifest);
  const revocation = new RevocationChecker({ ...config.revocation, now });
  const metrics = createMetrics();
  const authenticator = new CertificateAuthenticator({
    trustStore,
    revocation,
    revocationMode: config.revocation.mode,
    logger,
    now,
    onAnalysisCache: metrics.certificateCache,
  });
  const certificateSource = new CertificateSource(config.trustedProxies, config.clientCertHeader);

  const kek = loadKeyEncryptionKey(config.keyEncryptionKey, config.dataDir);
  if (kek.generated) logger.warn({ file: kek.generated }, 'generated a key-encryption key: instances sharing a database must share HSMP_KEY_ENCRYPTION_KEY');
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger, poolSize: config.databasePoolSize });
  const closers: Array<() => Promise<unknown> | unknown> = [() => database.close()];
  try {
    const applied = await migrate(database.pool);
    if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
    const registry = new ParticipantRegistry(database.pool, new KeyCipher(kek.key), { batchesInFlight: database.kind === 'embedded' ? 1 : 2 });
    await registry.checkKeyEncryptionKey();

    const counters: DailyCounters = config.redisUrl ? new RedisCounters(config.redisUrl, logger, config.redisPrefix) : new MemoryCounters();
    closers.unshift(() => counters.close());
    await counters.ready().catch((error: unknown) => logger.warn({ err: error }, 'redis not reachable at start; queries answer 503 until it is'));
    const policy = new QuotaPolicy(database.pool, logger);
    await policy.start();
    closers.unshift(() => policy.stop());
    const quota = new QuotaGuard(counters, policy, config.limits, logger, now);
    metrics.watchBlocks(() => policy.blocksInForce());

    const stepsFor = ({ req, requestId, clientIp }: PublicRequest): CollectionSteps => {
      const presented = certificateSource.fromRequest(req);
      const context = (ap: { seatId: string; fingerprint: string }): CollectionContext => ({ requestId, seatId: ap.seatId, fingerprint: ap.fingerprint, clientIp });
      return {
        authenticate: (environment) => authenticator.authenticate(presented, environment),
        admit: (ap) => quota.admit(ap, clientIp),
        servedEnvironments: config.environments,
        lookup: (ap, participant, environment) => registry.collect(participant, environment, context(ap)),
        recordRefusal: (ap, error, request) => {
          registry
            .recordRefusal(context(ap), request.requestedEnvironment, error.participantId ?? request.rawParticipantId, error.code)
            .catch((err: unknown) => logger.warn({ err, requestId }, 'could not record a refused collection'));
        },
      };
    };

    const publicApp = createPublicApp({
      smpId: config.smpId,
      defaultEnvironment: config.environment,
      certificateSource,
      stepsFor,
      logger,
      onOutcome: metrics.observe,
    });
    const publicServer = https.createServer(
      {
        cert: readFileSync(files.tlsCert),
        key: readFileSync(files.tlsKey),
        requestCert: true,
        // The application answers certificate problems itself (802..808), as HTTP responses.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
      publicApp,
    );
    // A renegotiation could swap the client certificate under a kept-alive connection.
    publicServer.on('secureConnection', (socket: TLSSocket) => socket.disableRenegotiation());
    publicServer.keepAliveTimeout = 30_000;
    publicServer.headersTimeout = 20_000;
    publicServer.requestTimeout = 30_000;
    await listen(publicServer, config.port, config.host);
    closers.unshift(() => closeServer(publicServer));

    const adminApp = createAdminApp({ config, database, policy, counters, metrics, logger, now });
    const adminServer = http.createServer(adminApp);
    await listen(adminServer, config.adminPort, config.adminHost);
    closers.unshift(() => closeServer(adminServer));

    return {
      publicUrl: urlOf(publicServer, 'https'),
      adminUrl: urlOf(adminServer, 'http'),
      database,
      registry,
      policy,
      counters,
      close: async () => {
        for (const close of closers) await close();
      },
    };
  } catch (error) {
    for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
    throw error;
  }
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting, lets in-flight requests finish, and drops idle kept-alive connections. */
function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function urlOf(server: http.Server, scheme: 'http' | 'https'): string {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address === '0.0.0.0' ? '127.0.0.1' : address;
  return `${scheme}://${host === '[::]' ? 'localhost' : host}:${port}`;
}
