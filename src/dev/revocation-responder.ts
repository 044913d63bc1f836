import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEV_CAS, devPkiPaths, type DevCa, type DevPkiIndex } from './dev-pki';
import { signCrl, signOcspResponse } from './revocation-documents';

/**
 * The development PKI's revocation service: GET /crl/{ca}.crl and POST /ocsp/{ca}, on loopback.
 * `npm start` runs it beside a dev deployment so that the revoked certificate is refused; the
 * tests run their own. It counts the requests it answers, so a test can tell which source
 * the service asked.
 */
export interface RevocationResponder {
  url: string;
  hits: { ocsp: number; crl: number };
  close(): Promise<void>;
}

export async function startRevocationResponder(pkiDir: string, index: DevPkiIndex, listen: { host: string; port: number }): Promise<RevocationResponder> {
  const paths = devPkiPaths(pkiDir);
  const material = new Map(DEV_CAS.map((ca) => [ca, { cert: readFileSync(paths.caCert(ca), 'utf8'), key: readFileSync(paths.caKey(ca), 'utf8') }]));
  const revoked = (ca: DevCa) => new Set(index.revoked[ca] ?? []);
  const hits = { ocsp: 0, crl: 0 };

  const server = http.createServer((req, res) => {
    const match = /^\/(ocsp|crl)\/([a-z-]+?)(\.crl)?$/.exec(req.url ?? '');
    const ca = match && (DEV_CAS as readonly string[]).includes(match[2]) ? (match[2] as DevCa) : undefined;
    const own = ca && material.get(ca);
    if (!match || !own) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => void answer());
    const answer = async () => {
      try {
        if (match[1] === 'crl' && req.method === 'GET') {
          hits.crl++;
          res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(await signCrl(own.cert, own.key, [...revoked(ca)]));
        } else if (match[1] === 'ocsp' && req.method === 'POST') {
          hits.ocsp++;
          const body = await signOcspResponse(Buffer.concat(chunks), own.cert, own.key, revoked(ca));
          res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(body);
        } else {
          res.writeHead(405).end();
        }
      } catch {
        res.writeHead(400).end();
      }
    };
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${listen.host}:${port}`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
