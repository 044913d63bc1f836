import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createAdminApp } from './admin/admin-app';
import { LogRetention, OperatorService } from './operations';
import { audited } from './store/audit-log';
import { quotaUsageOfDay } from './operations/log-repository';
import { createMetrics } from './admin/metrics';
import { KeyCollection } from './collection/key-collection';
import type { Config } from './config/config';
import type { DeploymentFiles } from './config/deployment';
import type { Environment } from './domain/environment';
import { capConnectionsPerAddress } from './http/connection-limits';
import { drainable } from './http/drain';
import { CallerSource } from './http/caller';
import { createPublicApp } from './http/public-app';
import type { Logger } from './log';
import { KeyIssuer } from './participants/key-issuer';
import { ParticipantRegistry } from './participants/registry';
import { connectRedis, MemoryCounters, QuotaGuard, QuotaPolicy, RedisCounters, type DailyCounters } from './quota';
import { openDatabase, type Database } from './store/database';
import { KeyCipher, loadKeyEncryptionKey } from './store/key-cipher';
import { migrate } from './store/migrate';
import { KeyPreparer, KeyRevocations, PreparedKeys, SmlClient, SmlHealth } from './sml';
import { JobOperations, Jobs, Reconciliation } from './operations/jobs';
import path from 'node:path';
import type { SmlStatus } from './sml/status';
import { CertificateAuthenticator, RevocationChecker, TLS12_CIPHERS, TrustStore } from './tls';

/** The SML side of a running service; absent with HSMP_SML=off. */
export interface RunningSml extends SmlStatus {
  keys: PreparedKeys;
  reconciliation: Reconciliation;
}

export interface RunningService {
  publicUrl: string;
  adminUrl: string;
  database: Database;
  registry: ParticipantRegistry;
  policy: QuotaPolicy;
  counters: DailyCounters;
  sml?: RunningSml;
  jobs: Jobs;
  close(): Promise<void>;
}

export interface ServiceOptions {
  logger: Logger;
  /** Injected clock, for the Brussels day boundary in tests. */
  now?: () => Date;
}

const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

export async function startService(config: Config, files: DeploymentFiles, { logger, now }: ServiceOptions): Promise<RunningService> {
  const trustStore = await TrustStore.load(files.trustStoreManifest);
  const revocation = new RevocationChecker({ ...config.tls.revocation, now });
  const metrics = createMetrics();
  const authenticator = new CertificateAuthenticator({
    trustStore,
    revocation,
    revocationMode: config.tls.revocation.mode,
    logger,
    now,
    onAnalysisCache: metrics.certificateCache,
  });
  const callers = new CallerSource(config.tls.trustedProxies, config.tls.clientCertHeader);

  const kek = loadKeyEncryptionKey(config.store.keyEncryptionKey, config.store.dataDir);
  if (kek.generated) logger.warn({ file: kek.generated }, 'generated a key-encryption key: instances sharing a database must share HSMP_KEY_ENCRYPTION_KEY');
  const database = await openDatabase({ databaseUrl: config.store.databaseUrl, dataDir: config.store.dataDir, logger, poolSize: config.store.poolSize });
  const closers: Array<() => unknown> = [() => database.close()];
  try {
    const applied = await migrate(database);
    if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
    const registry = new ParticipantRegistry(database.pool, new KeyCipher(kek.key), {
      batchesInFlight: Math.min(2, database.capabilities.poolSize),
      keysPreparedElsewhere: !config.sml.enabled,
      maxPendingRefusals: config.collectionLog.maxPendingRefusals,
      onRefusalsLost: metrics.collectionLogLost,
      logger,
    });
    closers.unshift(() => registry.close());
    await registry.checkKeyEncryptionKey();

    const endpoints = files.sml;
    const smlClients = new Map<Environment, SmlClient>();
    for (const [environment, endpoint] of endpoints ?? []) {
      const client = new SmlClient(
        {
          url: endpoint.url,
          cert: readFileSync(endpoint.certFile),
          key: readFileSync(endpoint.keyFile),
          ...(endpoint.caFile ? { ca: readFileSync(endpoint.caFile) } : {}),
        },
        { timeoutMs: config.sml.timeoutMs, maxInFlight: config.sml.maxInFlight, observe: metrics.smlCall },
      );
      smlClients.set(environment, client);
      closers.unshift(() => client.close());
    }
    const smlHealth = new SmlHealth(logger);
    const preparer = endpoints ? new KeyPreparer(smlClients, config.peppol.smpId, smlHealth) : undefined;
    const revocations =
      preparer &&
      new KeyRevocations(registry, preparer, {
        smlTimeoutMs: config.sml.timeoutMs,
        audited: (entry, work) => audited(database.pool, entry, work),
      });
    let sml: RunningSml | undefined;
    if (preparer) {
      const keys = new PreparedKeys(registry, preparer, { revocations, maxAgeDays: config.sml.keyMaxAgeDays, now: now ?? (() => new Date()) });
      const reconciliation = new Reconciliation(database, smlClients, {
        smpId: config.peppol.smpId,
        maxShare: config.sml.reconcileMaxShare,
        windowHours: config.sml.reconcileWindowHours,
        health: smlHealth,
        logger,
      });
      sml = { keys, reconciliation, health: smlHealth, environments: [...smlClients.keys()] };
      metrics.watchSml(smlHealth, sml.environments);
    }
    // Closed before the SML clients and the database it uses: running jobs record how they ended.
    const jobs = new Jobs({ pool: database.pool, logger, leaseSeconds: config.jobs.leaseSeconds });
    closers.unshift(() => jobs.close());
    const jobOperations = new JobOperations({
      database,
      jobs,
      logger,
      import: { ...config.imports, uploadDir: path.join(config.store.dataDir, 'imports') },
      sml: sml && { ...sml, prepareConcurrency: config.sml.prepareConcurrency },
    });
    if (sml && config.sml.reconcileIntervalSeconds > 0) closers.unshift(jobOperations.scheduleReconciliation(config.sml.reconcileIntervalSeconds));

    const usageFromLog = (day: string) => quotaUsageOfDay(database.pool, day);
    const counters: DailyCounters = config.quota.redisUrl
      ? new RedisCounters(connectRedis(config.quota.redisUrl), logger, config.quota.redisPrefix, usageFromLog)
      : new MemoryCounters(usageFromLog);
    closers.unshift(() => counters.close());
    await counters.ready().catch((error: unknown) => {
      logger.warn({ err: error }, 'redis not reachable at start; queries answer 503 until it is');
    });
    const retention = new LogRetention(database, { retentionDays: config.collectionLog.retentionDays, now: now ?? (() => new Date()), logger });
    closers.unshift(retention.schedule());
    const policy = new QuotaPolicy(database.pool, logger);
    await policy.start();
    closers.unshift(() => {
      policy.stop();
    });
    const quota = new QuotaGuard(counters, policy, config.quota.limits, logger, now);
    metrics.watchBlocks(() => policy.blocksInForce());

    const collection = new KeyCollection({
      authenticator,
      quota,
      issuer: new KeyIssuer(registry, sml?.keys),
      refusals: registry.refusals,
      servedEnvironments: config.peppol.environments,
      now: now ?? (() => new Date()),
    });

    const publicApp = createPublicApp({
      smpId: config.peppol.smpId,
      defaultEnvironment: config.peppol.environment,
      callers,
      collection,
      logger,
      onOutcome: metrics.observe,
      onDependencyUnavailable: metrics.dependencyUnavailable,
    });
    const publicServer = https.createServer(
      {
        cert: readFileSync(files.tlsCert),
        key: readFileSync(files.tlsKey),
        requestCert: true,
        // The application answers certificate problems itself (802..808), as HTTP responses.
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        ciphers: TLS12_CIPHERS,
        // A client that opens a connection and says nothing must not hold it for Node's 120 s.
        handshakeTimeout: config.publicListener.handshakeTimeoutMs,
        // Node checks the headers and request timeouts this often (default 30 s: a silent
        // connection was held ~28 s whatever the timeout said).
        connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
      },
      publicApp,
    );
    // A renegotiation could swap the client certificate under a kept-alive connection.
    publicServer.on('secureConnection', (socket: TLSSocket) => {
      socket.disableRenegotiation();
    });
    // After the handshake, a client gets a request's worth of time, not a connection's: one
    // that sends nothing, idles between requests or trickles a body is closed (the SPEC's one
    // route is a GET without a body).
    publicServer.headersTimeout = config.publicListener.headersTimeoutMs;
    publicServer.requestTimeout = config.publicListener.requestTimeoutMs;
    publicServer.keepAliveTimeout = config.publicListener.keepAliveTimeoutMs;
    capConnectionsPerAddress(publicServer, {
      max: config.publicListener.maxConnectionsPerIp,
      exempt: (address) => callers.isTrustedProxy(address),
    });
    // Bounded, and below the process's open-file limit, so that a flood of idle sockets on the
    // public port cannot take the admin listener's file descriptors too.
    publicServer.maxConnections = config.publicListener.maxConnections;
    const publicDrain = drainable(publicServer, 'secureConnection');
    await listen(publicServer, config.publicListener.port, config.publicListener.host);
    closers.unshift(() => publicDrain.close());

    const operations = new OperatorService({
      database,
      policy,
      counters,
      limits: config.quota.limits,
      sml,
      environments: config.peppol.environments,
      registry,
      revocations,
      now: now ?? (() => new Date()),
    });
    const adminApp = createAdminApp({
      operators: config.admin.operators,
      quotaStore: config.quota.redisUrl ? 'redis' : 'memory',
      database,
      counters,
      operations,
      jobs: jobOperations,
      metrics,
      logger,
      sml,
    });
    const adminServer = http.createServer(adminApp);
    adminServer.maxConnections = config.admin.maxConnections;
    const adminDrain = drainable(adminServer, 'connection');
    await listen(adminServer, config.admin.port, config.admin.host);
    closers.unshift(() => adminDrain.close());

    return {
      publicUrl: urlOf(publicServer, 'https'),
      adminUrl: urlOf(adminServer, 'http'),
      database,
      registry,
      policy,
      counters,
      sml,
      jobs,
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

function urlOf(server: http.Server, scheme: 'http' | 'https'): string {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address === '0.0.0.0' ? '127.0.0.1' : address;
  return `${scheme}://${host === '[::]' ? 'localhost' : host}:${port}`;
}
