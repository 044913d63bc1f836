import { readFileSync } from 'node:fs';
import type { Environment } from '../domain/environment';
import { devPkiPaths, type DevPkiIndex } from './dev-pki';
import { startDevSml, type DevSml } from './dev-sml';
import { buildRequest, SOAP_ACTIONS } from '../sml/soap';

/** The SMP id of the development PKI's second SMP certificate (`smp-new`), which plays the new SMP. */
export const DEV_NEW_SMP_ID = 'NEW-SMP';

export interface DevSmlSetup {
  pkiDir: string;
  index: DevPkiIndex;
  /** hsmp's own SMP id (HSMP_SMP_ID): it holds every participant until migrated. */
  smpId: string;
  host?: string;
  port: number;
  delayMs?: number;
  statePath?: string;
}

/**
 * The development SML wired to the development PKI: its TLS server certificate is the dev
 * server certificate, it admits the dev SMP CAs' certificates, and knows hsmp's two SMP
 * certificates (`smp-test`, `smp-production`) as `smpId` and `smp-new` as DEV_NEW_SMP_ID.
 */
export function startDevSmlForDevPki(setup: DevSmlSetup): Promise<DevSml> {
  const paths = devPkiPaths(setup.pkiDir);
  const read = (file: string) => readFileSync(file);
  return startDevSml({
    host: setup.host ?? '127.0.0.1',
    port: setup.port,
    tls: {
      cert: read(paths.serverCert),
      key: read(paths.serverKey),
      clientCas: (['root-test', 'root-production', 'smp-test', 'smp-production'] as const).map((ca) => read(paths.caCert(ca))),
    },
    smps: {
      [setup.index.seatIds['smp-test']]: setup.smpId,
      [setup.index.seatIds['smp-production']]: setup.smpId,
      [setup.index.seatIds['smp-new']]: DEV_NEW_SMP_ID,
    },
    homeSmpId: setup.smpId,
    delayMs: setup.delayMs,
    statePath: setup.statePath,
  });
}

/** What hsmp presents to the development SML of an environment (HSMP_SML_* left unset). */
export function devSmlEndpoint(pkiDir: string, baseUrl: string, environment: Environment): { url: string; certFile: string; keyFile: string; caFile: string } {
  const paths = devPkiPaths(pkiDir);
  const certificate = environment === 'test' ? 'smp-test' : 'smp-production';
  return {
    url: `${baseUrl}/${environment}/manageparticipantidentifier`,
    certFile: paths.clientCert(certificate),
    keyFile: paths.clientKey(certificate),
    caFile: paths.serverCa,
  };
}

/**
 * A shell line that completes a migration in the development SML as the new SMP (Migrate with
 * the `smp-new` certificate), reading the migration key from $KEY. Printed by `npm start`.
 */
export function devMigrateCommand(pkiDir: string, baseUrl: string, environment: Environment, participant: string): string {
  const paths = devPkiPaths(pkiDir);
  const placeholder = 'MIGRATION-KEY-PLACEHOLDER';
  const body = buildRequest({ operation: 'Migrate', record: { smpId: DEV_NEW_SMP_ID, participant, migrationKey: placeholder } })
    .replace(/"/g, '\\"')
    .replace(placeholder, '$KEY');
  return [
    `curl -sS --cacert ${paths.serverCa} --cert ${paths.clientCert('smp-new')} --key ${paths.clientKey('smp-new')} \\`,
    `       -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "${SOAP_ACTIONS.Migrate}"' \\`,
    `       --data-binary "${body}" \\`,
    `       ${baseUrl}/${environment}/manageparticipantidentifier`,
  ].join('\n');
}
