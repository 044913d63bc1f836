import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { generateDevPki, devPkiPaths } from '../src/dev/dev-pki';
import { floodCertificatesWithKey } from '../test/support/flood-certificates';
import { freshDatabase, startOperatedServer } from './support';

/**
 * `npm run bench:flood`: the service's memory under a flood of self-made client certificates
 * (each connection a full TLS handshake with a different 40 kB certificate, then one request;
 * OpenSSL here refuses client certificates of 64 kB and more in the handshake),
 * as hostile clients would send them, from 64 loopback addresses. Reports resident memory
 * before, after, and at peak.
 * HSMP_BENCH_SERVER_ROOT runs another checkout's build (before/after comparisons).
 */
const COUNT = Number(process.env.FLOOD_COUNT ?? 10_200);
const PAD = 40 * 1024;
const PARALLEL = 16;
/**
 * Loopback source addresses the connections rotate through (127.0.0.0/8 is all loopback on
 * Linux): from one address, the flood would measure HSMP_MAX_CONNECTIONS_PER_IP closing it, not
 * the memory of the handshakes.
 */
const SOURCE_ADDRESSES = 64;
const sourceAddress = (n: number) => `127.0.0.${2 + (n % SOURCE_ADDRESSES)}`;

function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

function handshakeAndAsk(port: number, ca: Buffer, cert: string, key: string, localAddress: string): Promise<number> {
  return new Promise((resolve) => {
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
    const socket = tls.connect({ socket: tcp, servername: 'localhost', ca, cert, key }, () => {
      socket.write('GET /hermes-rw/migrationKey/0200065765 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    let head = '';
    socket.on('data', (d: Buffer) => (head ||= d.toString('latin1', 0, 12)));
    socket.on('error', () => {
      resolve(0);
    });
    socket.on('close', () => {
      resolve(Number(head.slice(9, 12)) || 0);
    });
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-flood-'));
  try {
    await generateDevPki({ dir: path.join(work, 'pki'), revocationBaseUrl: 'http://127.0.0.1:9' });
    const pki = devPkiPaths(path.join(work, 'pki'));
    // On the run's PostgreSQL when it has one: the embedded database's own memory (hundreds of
    // MB of WebAssembly, measured) would hide the service's.
    const database = process.env.DATABASE_URL ? await freshDatabase(process.env.DATABASE_URL, 'hsmp_bench_flood') : undefined;
    const server = await startOperatedServer(path.join(work, 'data'), {
      HSMP_TLS_CERT: pki.serverCert,
      HSMP_TLS_KEY: pki.serverKey,
      HSMP_TRUSTSTORE: pki.manifest,
      HSMP_SML: 'off',
      ...(database ? { DATABASE_URL: database.url } : {}),
    });
    const pid = server.child.pid ?? 0;
    try {
      const { certificates, keyPem } = floodCertificatesWithKey(COUNT, PAD);
      const ca = readFileSync(pki.serverCa);
      const before = rssMb(pid);
      const statuses = new Map<number, number>();
      let next = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < certificates.length) {
            const n = next++;
            const status = await handshakeAndAsk(server.port, ca, certificates[n], keyPem, sourceAddress(n));
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }),
      );
      const after = rssMb(pid);
      console.log(
        `flood of ${COUNT} self-made ${PAD / 1024} kB client certificates, ${PARALLEL} at a time, ${((Date.now() - started) / 1000).toFixed(1)} s; answers ${JSON.stringify(Object.fromEntries(statuses))}`,
      );
      console.log(`server RSS before ${before.rss} MB, after ${after.rss} MB, peak ${after.peak} MB`);
    } finally {
      await server.stop();
      await database?.drop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench:flood: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
