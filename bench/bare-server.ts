import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import https from 'node:https';

/**
 * The floor for `npm run bench`: Node's https with requestCert and the same server key,
 * answering a constant 200. BARE_WORKERS > 1 runs it under cluster like HSMP_WORKERS.
 */
const workers = Number(process.env.BARE_WORKERS ?? 1);
if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const body = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<MigrationRecord/>\n');
  const server = https.createServer(
    {
      cert: readFileSync(process.env.BARE_CERT!),
      key: readFileSync(process.env.BARE_KEY!),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': body.length });
      res.end(body);
    },
  );
  server.keepAliveTimeout = 30_000;
  server.listen(Number(process.env.BARE_PORT), '127.0.0.1', () => process.send?.('listening'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
