import { readFileSync } from 'node:fs';
import path from 'node:path';
import newman from 'newman';
import { devPkiPaths, type ClientCase } from '../../src/dev/dev-pki';

/**
 * Runs the Postman collection against a running deployment. Postman binds client certificates
 * by host, so each folder is a newman run of its own with the certificate it names; the
 * environment (keys seen so far) carries over between runs as it would in one Postman session.
 */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
const COLLECTION = path.join(ROOT, 'postman', 'hsmp-mtci.postman_collection.json');
const ENVIRONMENT = path.join(ROOT, 'postman', 'local.postman_environment.json');

/** Every folder of the collection, in the order it runs, with the client certificate it needs. */
export const FOLDERS: Array<[string, ClientCase | 'none']> = [
  ['1 Positive (production AP certificate)', 'ap-production'],
  ['2 Participant errors (production AP certificate)', 'ap-production'],
  ['3.1 Security: no certificate', 'none'],
  ['3.2 Security: expired certificate', 'expired'],
  ['3.3 Security: not yet valid certificate', 'not-yet-valid'],
  ['3.4 Security: untrusted certificate', 'untrusted'],
  ['3.5 Security: test AP asking for production', 'ap-test'],
  ['3.6 Security: revoked certificate', 'revoked'],
  ['3.7 Security: SMP certificate', 'smp-production'],
  ['3.8 Security: test AP certificate', 'ap-test'],
  ['5.1 SML: collect a key (production AP certificate)', 'ap-production'],
  ['5.2 SML: the new SMP completes the migration (smp-new certificate)', 'smp-new'],
  ['5.3 SML: reconcile, then the participant is migrated (production AP certificate)', 'ap-production'],
  ['5.4 SML: the rehearsal in test leaves production alone (production AP certificate)', 'ap-production'],
  ['6.1 Revocation: an operator revokes a handed-out key (production AP certificate)', 'ap-production'],
  ['6.2 Revocation: the old key is worthless at the SML, the fresh one works (smp-new certificate)', 'smp-new'],
  ["4 Blacklisting (production AP certificate; uses up the seat's quota for today, then an operator lifts the block)", 'ap-production'],
];

export interface Deployment {
  /** The public listener, e.g. https://localhost:8443. */
  baseUrl: string;
  /** The admin listener and an operator token (reconciliation, lifting the block of folder 4). */
  adminUrl: string;
  adminToken: string;
  /** The development SML the new SMP calls in folder 5.2. */
  smlUrl: string;
  /** The development PKI the deployment trusts: client certificates per case, the server's CA. */
  pkiDir: string;
  /** Environments the deployment serves, comma-separated. */
  servedEnvironments: string;
}

/** Runs the folders whose names start with one of `only` (all without it); returns the number of failures. */
export async function runCollection(deployment: Deployment, only: string[] = []): Promise<number> {
  const folders = FOLDERS.filter(([name]) => only.length === 0 || only.some((prefix) => name.startsWith(prefix)));
  if (folders.length === 0) throw new Error(`no folder starts with ${only.join(', ')}; the folders are:\n  ${FOLDERS.map(([name]) => name).join('\n  ')}`);
  let environment: unknown = JSON.parse(readFileSync(ENVIRONMENT, 'utf8'));
  let failures = 0;
  for (const [folder, certificate] of folders) {
    const result = await runFolder(deployment, environment, folder, certificate);
    failures += result.failures;
    environment = result.environment;
  }
  return failures;
}

async function runFolder(
  deployment: Deployment,
  environment: unknown,
  folder: string,
  certificate: ClientCase | 'none',
): Promise<{ failures: number; environment: unknown }> {
  const pki = devPkiPaths(deployment.pkiDir);
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: COLLECTION,
        environment: environment as newman.NewmanRunOptions['environment'],
        envVar: [
          { key: 'baseUrl', value: deployment.baseUrl },
          { key: 'smlUrl', value: deployment.smlUrl },
          { key: 'adminUrl', value: deployment.adminUrl },
          { key: 'adminToken', value: deployment.adminToken },
          { key: 'servedEnvironments', value: deployment.servedEnvironments },
        ],
        folder,
        reporters: ['cli'],
        reporter: { cli: { noSummary: false, noBanner: true } },
        sslExtraCaCerts: pki.serverCa,
        ...(certificate === 'none' ? {} : { sslClientCert: pki.clientCert(certificate), sslClientKey: pki.clientKey(certificate) }),
        timeoutRequest: 20_000,
      },
      (error, summary) => {
        if (error) {
          reject(error);
          return;
        }
        const failures = summary.run.failures.length + (summary.run.stats.requests.total === 0 ? 1 : 0);
        resolve({ failures, environment: summary.environment });
      },
    );
  });
}
