#!/usr/bin/env node
import { loadConfig } from '../config/config';
import { devPkiPaths, generateDevPki } from './dev-pki';

/** `npm run pki`: (re)generates the development PKI into HSMP_DEV_PKI_DIR (default certs/dev). */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const revocationBaseUrl = `http://127.0.0.1:${config.devRevocationPort}`;
  await generateDevPki({ dir: config.devPkiDir, revocationBaseUrl });
  const paths = devPkiPaths(config.devPkiDir);
  console.log(`development PKI written to ${config.devPkiDir}`);
  console.log(`  trust-store manifest: ${paths.manifest}`);
  console.log(`  server certificate:   ${paths.serverCert} (clients trust ${paths.serverCa})`);
  console.log(`  client certificates:  ${paths.clientCert('ap-production').replace('ap-production', '<case>')}`);
  console.log(`  revocation (OCSP/CRL) expected at ${revocationBaseUrl}`);
}

main().catch((error: unknown) => {
  console.error(`hsmp pki: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
