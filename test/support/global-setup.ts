import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateDevPki } from '../../src/dev/dev-pki';
import { startRevocationResponder } from '../../src/dev/revocation-responder';

/**
 * One development PKI for the whole run (RSA key generation costs seconds), with its OCSP and
 * CRL responder listening in this process until the teardown. Test files find it through
 * HSMP_TEST_PKI_DIR.
 */
export default async function globalSetup(): Promise<void> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-test-pki-'));
  const index = await generateDevPki({ dir, revocationBaseUrl: `http://127.0.0.1:${port}` });
  const responder = await startRevocationResponder(dir, index, { host: '127.0.0.1', port });
  process.env.HSMP_TEST_PKI_DIR = dir;
  (globalThis as Record<string, unknown>).hsmpTestResponder = responder;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = http.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}
