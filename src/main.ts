#!/usr/bin/env node
import cluster from 'node:cluster';
import path from 'node:path';
import { ConfigError, loadConfig, resolveSmlEndpoints, type Config } from './config/config';
import { createLogger, type Logger } from './log';
import { datasetNumbers } from './participants/datasets';
import { seedDatasets } from './participants/enterprise-repository';
import { devPkiPaths, ensureDevPki } from './dev/dev-pki';
import { startRevocationResponder, type RevocationResponder } from './dev/revocation-responder';
import { startService, type ServiceFiles } from './service';
import type { DevSml } from './dev/dev-sml';
import { devMigrateCommand, devSmlEndpoint, startDevSmlForDevPki } from './dev/dev-sml-wiring';

const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Start-up. One process by default; with HSMP_WORKERS=N the primary prepares what is shared
 * (dev PKI and its responder) and forks N workers that share the listeners' ports.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    return fail(error);
  }
  const logger = createLogger(config.logLevel);
  const usesDevPki = !config.tlsCertFile || !config.trustStoreManifest;
  const isWorker = cluster.isWorker;

  let responder: RevocationResponder | undefined;
  let devSml: DevSml | undefined;
  const devSmlBaseUrl = `https://localhost:${config.devSmlPort}`;
  const files: ServiceFiles = { tlsCert: config.tlsCertFile ?? '', tlsKey: config.tlsKeyFile ?? '', trustStoreManifest: config.trustStoreManifest ?? '' };
  if (usesDevPki) {
    const revocationBaseUrl = `http://127.0.0.1:${config.devRevocationPort}`;
    const index = await ensureDevPki({ dir: config.devPkiDir, revocationBaseUrl });
    const dev = devPkiPaths(config.devPkiDir);
    files.tlsCert ||= dev.serverCert;
    files.tlsKey ||= dev.serverKey;
    files.trustStoreManifest ||= dev.manifest;
    if (!isWorker && config.revocation.mode !== 'off') {
      responder = await startRevocationResponder(config.devPkiDir, index, { host: '127.0.0.1', port: config.devRevocationPort });
    }
    // The development SML plays the SML of every environment whose SML is not configured.
    const smlUnconfigured = config.environments.some((e) => !config.sml.endpoints[e]?.url);
    if (config.sml.enabled && smlUnconfigured) {
      if (!isWorker) {
        devSml = await startDevSmlForDevPki({
          pkiDir: config.devPkiDir,
          index,
          smpId: config.smpId,
          port: config.devSmlPort,
          delayMs: config.devSmlDelayMs,
          statePath: path.join(config.dataDir, 'dev-sml.journal'),
        });
      }
      files.smlFallback = (environment) => devSmlEndpoint(config.devPkiDir, devSmlBaseUrl, environment);
    }
  }
  try {
    resolveSmlEndpoints(config, files.smlFallback);
  } catch (error) {
    await responder?.close();
    await devSml?.close();
    return fail(error);
  }
  const closeDevServices = async () => {
    await responder?.close();
    await devSml?.close();
  };
  if (!isWorker && config.workers > 1) {
    runPrimary(config, logger, closeDevServices, usesDevPki);
    return;
  }

  const service = await startService(config, files, { logger }).catch(async (error: unknown) => {
    await closeDevServices();
    throw error;
  });
  if (service.database.kind === 'embedded') {
    const client = await service.database.pool.connect();
    await seedDatasets(client, [datasetNumbers(1)], config.environments).finally(() => {
      client.release();
    });
  }
  logger.info(
    {
      public: service.publicUrl,
      admin: service.adminUrl,
      database: service.database.kind,
      quotas: config.redisUrl ? 'redis' : 'memory',
      worker: cluster.worker?.id,
    },
    'hsmp-mtci started',
  );
  if (usesDevPki && !isWorker) printHowToCall(config, service.publicUrl, devSml ? devSmlBaseUrl : undefined);

  onStop(logger, async () => {
    await service.close();
    await closeDevServices();
  });
}

function runPrimary(config: Config, logger: Logger, closeDevServices: () => Promise<void>, usesDevPki: boolean): void {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < config.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ worker: worker.id, code, signal }, 'worker died; starting another');
    fork();
  });
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === config.workers * 2 && usesDevPki) printHowToCall(config, `https://localhost:${config.port}`);
  });
  onStop(logger, async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (!worker || worker.isDead()) {
              resolve();
              return;
            }
            worker.once('exit', () => {
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
    await closeDevServices();
  });
}

/** SIGTERM / SIGINT: stop accepting, finish in-flight work, close pools; exit within 10 s. */
function onStop(logger: Logger, close: () => Promise<void>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function printHowToCall(config: Config, publicUrl: string, devSmlBaseUrl?: string): void {
  const dev = devPkiPaths(config.devPkiDir);
  const example = datasetNumbers(1)[1][0];
  const collect = `curl --cacert ${dev.serverCa} --cert ${dev.clientCert('ap-production')} --key ${dev.clientKey('ap-production')} -H 'Accept: application/json' ${publicUrl}/hermes-rw/migrationKey/0208:${example}`;
  const lines = [
    '',
    'hsmp-mtci is running as a test deployment (development PKI, demo dataset 1).',
    'Collect a migration key with the production access point certificate:',
    '',
    `  ${collect}`,
    '',
    `Other certificates (every case of SPEC §2): ${dev.clientCert('ap-production').replace('ap-production', '<case>')}`,
    `Admin API: http://${config.adminHost}:${config.adminPort} (set HSMP_ADMIN_TOKENS to use it)`,
    '',
  ];
  if (devSmlBaseUrl) {
    lines.push(
      `The development SML answers on ${devSmlBaseUrl}. Complete a migration as the new SMP (certificate smp-new):`,
      `collect the key, hand it to the SML with Migrate, then reconcile; the next collection answers HSMP-013.`,
      '',
      `  KEY=$(${collect} -sS | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).migrationKey')`,
      `  ${devMigrateCommand(config.devPkiDir, devSmlBaseUrl, config.environment, `0208:${example}`)}`,
      `  HSMP_ADMIN_TOKEN=<your token> npx hsmp-admin sml reconcile --force --reason 'dev migration'`,
      '',
    );
  }
  process.stdout.write(lines.join('\n'));
}

function fail(error: unknown): never {
  const known = error instanceof ConfigError;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hsmp-mtci: ${known ? 'configuration error: ' : ''}${message}\n`);
  process.exit(1);
}

main().catch(fail);
