import type { Environment } from '../domain/environment';
import { datasetNumbers } from '../participants/datasets';
import { buildRequest, SOAP_ACTIONS } from '../sml/soap';
import { devPkiPaths } from './dev-pki';
import type { DevOperator } from './dev-operator';
import { DEV_NEW_SMP_ID } from './dev-sml-wiring';

export interface WalkthroughSetup {
  pkiDir: string;
  publicUrl: string;
  adminUrl: string;
  environment: Environment;
  operator: DevOperator;
  /** The development SML's base URL; absent with HSMP_SML=off. */
  devSmlUrl?: string;
}

/** A word the shell reads as itself: quoted only when it has to be. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * What `npm start` prints for a development deployment: every indented line is a shell command
 * that works pasted as it is, in order (test/integration/walkthrough.test.ts runs them).
 */
export function walkthrough(setup: WalkthroughSetup): string {
  const pki = devPkiPaths(setup.pkiDir);
  const participant = `0208:${datasetNumbers(1)[1][0]}`;
  const tls = (certificate: 'ap-production' | 'smp-new') =>
    `--cacert ${shellWord(pki.serverCa)} --cert ${shellWord(pki.clientCert(certificate))} --key ${shellWord(pki.clientKey(certificate))}`;
  const collect = (accept: string) =>
    `curl -sS -w '\\n' ${tls('ap-production')} -H 'Accept: ${accept}' ${setup.publicUrl}/hermes-rw/migrationKey/${participant}`;
  const { operator } = setup;
  const lines = [
    '',
    'hsmp-mtci is running as a development deployment: development PKI, development SML, demo dataset 1.',
    '',
    operator.newToken
      ? `An operator token was made for you; it is printed this once (only its SHA-256 is kept, in ${operator.hashFile}):`
      : `The operator token was printed on the first start (its SHA-256 is in ${operator.hashFile}; delete that file and restart for a new one).`,
    '',
    `  export HSMP_ADMIN_URL=${setup.adminUrl}${operator.newToken ? ` HSMP_ADMIN_TOKEN=${operator.newToken}` : ''}`,
    '',
    `Operator console: ${setup.adminUrl}/`,
    '',
    'Collect a migration key with the production access point certificate, as JSON and as XML:',
    '',
    `  ${collect('application/json')}`,
    `  ${collect('application/xml')}`,
    '',
    `Other certificates (every case of the contract): ${shellWord(pki.clientCert('ap-production').replace('ap-production', '<case>'))}`,
    '',
  ];
  if (setup.devSmlUrl) {
    const endpoint = `${setup.devSmlUrl}/${setup.environment}/manageparticipantidentifier`;
    const placeholder = 'MIGRATION-KEY-PLACEHOLDER';
    const body = buildRequest({ operation: 'Migrate', record: { smpId: DEV_NEW_SMP_ID, participant, migrationKey: placeholder } })
      .replace(/"/g, '\\"')
      .replace(placeholder, '$KEY');
    lines.push(
      `The development SML answers on ${setup.devSmlUrl}. Complete a migration as the new SMP (certificate smp-new):`,
      'collect the key, hand it to the SML with Migrate, reconcile; the next collection answers HSMP-013.',
      '',
      `  KEY=$(${collect('application/json')} | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).migrationKey')`,
      `  curl -sS -w '\\n' ${tls('smp-new')} -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "${SOAP_ACTIONS.Migrate}"' --data-binary "${body}" ${endpoint}`,
      `  npx hsmp-admin sml reconcile --force --reason 'development walkthrough'`,
      `  ${collect('application/json')}`,
      '',
    );
  }
  return lines.join('\n');
}
