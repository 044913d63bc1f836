import path from 'node:path';
import type { DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from '../config/config';
import type { DeploymentFiles, SmlEndpointFiles } from '../config/deployment';
import type { Environment } from '../domain/environment';
import type { Logger } from '../log';
import { datasetNumbers } from '../participants/datasets';
import { hasEnterprises, seedDatasets } from '../participants/enterprise-repository';
import type { RunningService } from '../service';
import { devPkiPaths, ensureDevPki } from './dev-pki';
import { ensureDevOperator, type DevOperator } from './dev-operator';
import { readDevSettings } from './dev-settings';
import type { DevSml } from './dev-sml';
import { devSmlEndpoint, startDevSmlForDevPki } from './dev-sml-wiring';
import { startRevocationResponder, type RevocationResponder } from './revocation-responder';
import { walkthrough } from './walkthrough';

/**
 * The development deployment, the one entry main() loads (lazily) when nothing of a real
 * deployment is configured: the development PKI (server certificate, trust store, client
 * certificates) with its OCSP/CRL responder, the development SML, an operator token, the demo
 * dataset on the first start, and the printed walkthrough.
 */
export interface DevelopmentDeployment {
  /** The configuration with the development operator admitted. */
  config: Config;
  files: DeploymentFiles;
  /** Seeds demo dataset 1 into an empty registry: a restart keeps what happened since. */
  seedDemoOnce(service: Pick<RunningService, 'database'>): Promise<void>;
  /** The walkthrough, for stdout. */
  walkthrough(urls: { publicUrl: string; adminUrl: string }): string;
  close(): Promise<void>;
}

/** The first log line of a development deployment, so that nobody mistakes one for production. */
export const FIRST_LOG_LINE =
  'development deployment: nothing of a real deployment is configured, so the development PKI, the development SML and the demo data are used; not for production (HSMP_DEPLOYMENT=production or NODE_ENV=production refuses this)';

/** Readable lines when a person watches (a terminal); JSON otherwise, as in production. */
export function logDestination(): DestinationStream | undefined {
  return process.stdout.isTTY ? pinoPretty({ colorize: true, sync: true, ignore: 'pid,hostname,service' }) : undefined;
}

export interface DevelopmentOptions {
  env: NodeJS.ProcessEnv;
  config: Config;
  logger: Logger;
  /** The process that owns the shared parts (responder, SML, the token file): false in a cluster worker. */
  primary: boolean;
}

export async function startDevelopmentDeployment({ env, config, logger, primary }: DevelopmentOptions): Promise<DevelopmentDeployment> {
  const dev = readDevSettings(env);
  const index = await ensureDevPki({ dir: dev.pkiDir, revocationBaseUrl: `http://127.0.0.1:${dev.revocationPort}` });
  const pki = devPkiPaths(dev.pkiDir);
  const operator: DevOperator = ensureDevOperator(config.store.dataDir);

  let responder: RevocationResponder | undefined;
  let devSml: DevSml | undefined;
  const close = async () => {
    await responder?.close();
    await devSml?.close();
  };
  const devSmlUrl = `https://localhost:${dev.smlPort}`;
  let sml: Map<Environment, SmlEndpointFiles> | undefined;
  try {
    if (primary && config.tls.revocation.mode !== 'off') {
      responder = await startRevocationResponder(dev.pkiDir, index, { host: '127.0.0.1', port: dev.revocationPort });
    }
    if (config.sml.enabled) {
      if (primary) {
        devSml = await startDevSmlForDevPki({
          pkiDir: dev.pkiDir,
          index,
          smpId: config.peppol.smpId,
          port: dev.smlPort,
          delayMs: dev.smlDelayMs,
          statePath: path.join(config.store.dataDir, 'dev-sml.journal'),
        });
      }
      sml = new Map(config.peppol.environments.map((environment) => [environment, devSmlEndpoint(dev.pkiDir, devSmlUrl, environment)]));
    }
  } catch (error) {
    await close();
    throw error;
  }

  return {
    config: { ...config, admin: { ...config.admin, operators: [...config.admin.operators, operator.operator] } },
    files: { tlsCert: pki.serverCert, tlsKey: pki.serverKey, trustStoreManifest: pki.manifest, sml },
    seedDemoOnce: async ({ database }) => {
      const client = await database.pool.connect();
      try {
        if (await hasEnterprises(client)) return;
        await seedDatasets(client, [datasetNumbers(1)], config.peppol.environments);
        logger.info({ datasets: [1] }, 'development deployment: demo dataset seeded into the empty registry');
      } finally {
        client.release();
      }
    },
    walkthrough: (urls) =>
      walkthrough({ pkiDir: dev.pkiDir, ...urls, environment: config.peppol.environment, operator, devSmlUrl: sml ? devSmlUrl : undefined }),
    close,
  };
}
