#!/usr/bin/env node
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config/config';
import { resolveDeployment, type DeploymentFiles } from './config/deployment';
import { createLogger, type Logger } from './log';
import type { DevelopmentDeployment } from './dev/development-deployment';

const SHUTDOWN_GRACE_MS = 10_000;
const PARENT_CHECK_MS = 1_000;
/** Whoever started this process (npm, under `npm start`), before anything could have killed it. */
const STARTED_BY = process.ppid;

/**
 * Start-up. A production deployment when anything of one is configured (and then all of it
 * must be); a development deployment, loaded from src/dev only then, when nothing is. One
 * process by default; with HSMP_WORKERS=N the primary prepares what is shared and forks N
 * workers that share the listeners' ports.
 */
async function main(): Promise<void> {
  let config: Config;
  let deployment: ReturnType<typeof resolveDeployment>;
  try {
    config = loadConfig(process.env);
    deployment = resolveDeployment(process.env, config);
  } catch (error) {
    return fail(error);
  }
  const primary = !cluster.isWorker;
  let logger: Logger;
  let files: DeploymentFiles;
  let dev: DevelopmentDeployment | undefined;
  if (deployment.kind === 'development') {
    const development = await import('./dev/development-deployment');
    logger = createLogger(config.log.level, development.logDestination());
    if (primary) logger.warn({ deployment: 'development' }, development.FIRST_LOG_LINE);
    dev = await development.startDevelopmentDeployment({ env: process.env, config, logger, primary });
    config = dev.config;
    files = dev.files;
  } else {
    logger = createLogger(config.log.level);
    if (primary) logger.info({ deployment: 'production', environments: config.peppol.environments }, 'production deployment');
    files = deployment.files;
  }
  const closeDev = async () => {
    await dev?.close();
  };

  if (primary && config.cluster.workers > 1) {
    runPrimary(config, logger, closeDev, dev);
    return;
  }
  // Loaded after the configuration is known to be good: a refused one exits without loading it.
  const { startService } = await import('./service');
  const service = await startService(config, files, { logger }).catch(async (error: unknown) => {
    await closeDev();
    throw error;
  });
  await dev?.seedDemoOnce(service);
  logger.info(
    {
      public: service.publicUrl,
      admin: service.adminUrl,
      database: service.database.capabilities,
      quotas: config.quota.redisUrl ? 'redis' : 'memory',
      worker: cluster.worker?.id,
    },
    'hsmp-mtci started',
  );
  if (dev && primary) process.stdout.write(dev.walkthrough({ publicUrl: service.publicUrl, adminUrl: service.adminUrl }));

  onStop(logger, async () => {
    await service.close();
    await closeDev();
  });
}

function runPrimary(config: Config, logger: Logger, closeDev: () => Promise<void>, dev: DevelopmentDeployment | undefined): void {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < config.cluster.workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ worker: worker.id, code, signal }, 'worker died; starting another');
    fork();
  });
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening !== config.cluster.workers * 2) return;
    logger.info({ workers: config.cluster.workers }, 'hsmp-mtci started');
    const host = (h: string) => (h === '0.0.0.0' ? '127.0.0.1' : h);
    if (dev) {
      process.stdout.write(
        dev.walkthrough({
          publicUrl: `https://localhost:${config.publicListener.port}`,
          adminUrl: `http://${host(config.admin.host)}:${config.admin.port}`,
        }),
      );
    }
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
    await closeDev();
  });
}

/**
 * SIGTERM / SIGINT: stop accepting, finish in-flight work, close pools; exit within 10 s with a
 * last "stopped" line. Started by an npm script, the service also stops when npm goes (killed,
 * or a supervisor's `timeout`): node is npm's child and would otherwise keep the ports.
 */
function onStop(logger: Logger, close: () => Promise<void>): void {
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down: finishing in-flight requests');
    setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    await close();
    logger.info({ reason }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (process.env.npm_lifecycle_event && !cluster.isWorker) {
    setInterval(() => {
      if (process.ppid !== STARTED_BY) void stop('npm, its parent, is gone');
    }, PARENT_CHECK_MS).unref();
  }
}

function fail(error: unknown): never {
  const known = error instanceof ConfigError;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`hsmp-mtci: ${known ? 'configuration error: ' : ''}${message}\n`);
  process.exit(1);
}

main().catch(fail);
