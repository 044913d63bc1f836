import { z } from 'zod';
import type { Environment } from '../domain/environment';
import { ConfigError } from '../domain/errors';
import type { Config } from './config';
import { existingFile, httpsUrl, optionalText, settings } from './settings';

/** What hsmp presents to one environment's SML, and how it checks the SML's certificate. */
export interface SmlEndpointFiles {
  url: string;
  certFile: string;
  keyFile: string;
  /** Absent: the system's CAs. */
  caFile?: string;
}

/** The files a running service reads, resolved once: its server certificate, its trust store, each served environment's SML. */
export interface DeploymentFiles {
  tlsCert: string;
  tlsKey: string;
  trustStoreManifest: string;
  /** Absent with HSMP_SML=off. */
  sml?: ReadonlyMap<Environment, SmlEndpointFiles>;
}

export type Deployment = { kind: 'production'; files: DeploymentFiles } | { kind: 'development' };

const smlEndpoint = (suffix: 'TEST' | 'PRODUCTION') =>
  ({
    url: [`HSMP_SML_URL_${suffix}`, httpsUrl],
    certFile: [`HSMP_SML_CERT_${suffix}`, existingFile],
    keyFile: [`HSMP_SML_KEY_${suffix}`, existingFile],
  }) as const;

/** The variables of a real deployment: a development deployment replaces every one of them. */
const readDeployment = settings({
  tlsCert: ['HSMP_TLS_CERT', existingFile],
  tlsKey: ['HSMP_TLS_KEY', existingFile],
  trustStoreManifest: ['HSMP_TRUSTSTORE', existingFile],
  sml: { test: smlEndpoint('TEST'), production: smlEndpoint('PRODUCTION'), caFile: ['HSMP_SML_CA', existingFile] },
});

const readChoice = settings({
  /** production: never a development deployment; development: refuse the variables of a real one. */
  deployment: ['HSMP_DEPLOYMENT', z.enum(['production', 'development'], { error: 'expected production or development' }).optional()],
  nodeEnv: ['NODE_ENV', optionalText],
});

/** Every variable that says where a deployment's files and SML are, and whether it may be a development one. */
export const DEPLOYMENT_VARIABLES = [...readDeployment.variables, ...readChoice.variables];

/**
 * A development deployment only when nothing of a real deployment is configured (and it is not
 * refused by HSMP_DEPLOYMENT=production or NODE_ENV=production); otherwise everything a
 * production deployment needs, or a ConfigError naming what is missing. Production never
 * falls back to a development default.
 */
export function resolveDeployment(env: NodeJS.ProcessEnv, config: Pick<Config, 'peppol' | 'sml'>): Deployment {
  const choice = readChoice(env);
  const given = readDeployment(env);
  const configured = readDeployment.variables.filter((name) => optionalText.parse(env[name]) !== undefined);
  const refusesDevelopment = choice.deployment === 'production' || (choice.nodeEnv === 'production' && choice.deployment !== 'development');
  if (configured.length === 0 && !refusesDevelopment) return { kind: 'development' };
  if (choice.deployment === 'development') {
    throw new ConfigError(`HSMP_DEPLOYMENT: development, but ${configured.join(', ')} ${configured.length > 1 ? 'are' : 'is'} set (a real deployment's)`);
  }

  const missing: string[] = [];
  const need = <T>(value: T | undefined, variable: string): T => {
    if (value === undefined) missing.push(variable);
    return value as T;
  };
  const tlsCert = need(given.tlsCert, 'HSMP_TLS_CERT');
  const tlsKey = need(given.tlsKey, 'HSMP_TLS_KEY');
  const trustStoreManifest = need(given.trustStoreManifest, 'HSMP_TRUSTSTORE');
  let sml: Map<Environment, SmlEndpointFiles> | undefined;
  if (config.sml.enabled) {
    sml = new Map();
    for (const environment of config.peppol.environments) {
      const suffix = environment.toUpperCase();
      const endpoint = given.sml[environment];
      sml.set(environment, {
        url: need(endpoint.url, `HSMP_SML_URL_${suffix}`),
        certFile: need(endpoint.certFile, `HSMP_SML_CERT_${suffix}`),
        keyFile: need(endpoint.keyFile, `HSMP_SML_KEY_${suffix}`),
        caFile: given.sml.caFile,
      });
    }
  }
  if (missing.length > 0) {
    const why =
      configured.length > 0
        ? `${configured.join(', ')} ${configured.length > 1 ? 'are' : 'is'} set, so this is a production deployment`
        : `a development deployment is refused (${choice.deployment === 'production' ? 'HSMP_DEPLOYMENT' : 'NODE_ENV'}=production)`;
    const smlHint = config.sml.enabled && missing.some((m) => m.startsWith('HSMP_SML_')) ? '; HSMP_SML=off runs without an SML' : '';
    throw new ConfigError(`${missing.join(', ')}: missing (${why}${smlHint})`);
  }
  return { kind: 'production', files: { tlsCert, tlsKey, trustStoreManifest, sml } };
}
