import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Agent } from 'undici';
import { devPkiPaths, type ClientCase, type DevPkiPaths } from '../../src/dev/dev-pki';

/** The run's development PKI (made by global-setup) and TLS clients holding its certificates. */
export function testPki(): DevPkiPaths {
  const dir = process.env.HSMP_TEST_PKI_DIR;
  if (!dir) throw new Error('HSMP_TEST_PKI_DIR is not set: run the tests through jest (global-setup makes the PKI)');
  return devPkiPaths(dir);
}

const agents = new Map<string, Agent>();

/** An undici dispatcher making real TLS handshakes with the given client certificate (or none). */
export function clientAgent(certificate: ClientCase | 'none', options: { keepAlive?: boolean } = {}): Agent {
  const key = `${certificate}/${options.keepAlive ?? true}`;
  let agent = agents.get(key);
  if (!agent) {
    const pki = testPki();
    agent = new Agent({
      connect: {
        ca: readFileSync(pki.serverCa),
        ...(certificate === 'none' ? {} : { cert: readFileSync(pki.clientCert(certificate)), key: readFileSync(pki.clientKey(certificate)) }),
      },
      ...(options.keepAlive === false ? { pipelining: 0 } : {}),
    });
    agents.set(key, agent);
  }
  return agent;
}

export async function closeAgents(): Promise<void> {
  await Promise.all([...agents.values()].map((a) => a.close()));
  agents.clear();
}

export interface RawTlsAnswer {
  status: number;
  body: string;
  /** The session to resume on the next connection (the last ticket the server sent). */
  session: Buffer | undefined;
  reused: boolean;
}

/**
 * One request on a fresh TLS connection, offering `session` for resumption. Undici hides the
 * session, so this speaks HTTP/1.1 over node:tls itself; `target` is sent as written.
 */
export function requestOnNewConnection(
  publicUrl: string,
  certificate: ClientCase,
  target: string,
  session?: Buffer,
  pki: DevPkiPaths = testPki(),
): Promise<RawTlsAnswer> {
  const url = new URL(publicUrl);
  return new Promise((resolve, reject) => {
    let latestSession: Buffer | undefined;
    let reused = false;
    const chunks: Buffer[] = [];
    const socket = tls.connect(
      {
        host: url.hostname,
        port: Number(url.port),
        servername: 'localhost',
        ca: readFileSync(pki.serverCa),
        cert: readFileSync(pki.clientCert(certificate)),
        key: readFileSync(pki.clientKey(certificate)),
        session,
      },
      () => {
        reused = socket.isSessionReused();
        socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      },
    );
    socket.on('session', (s: Buffer) => (latestSession = s));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? NaN);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4), session: latestSession, reused });
    });
  });
}
