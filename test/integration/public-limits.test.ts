import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { Agent, request } from 'undici';
import { datasetNumbers } from '../../src/participants/datasets';
import { closeAgents, testPki } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';

/**
 * The public port's limits on one client, over real sockets: one address that opens silent
 * connections cannot shut the door on another (Linux routes all of 127/8 on lo, so 127.0.0.1
 * and 127.0.0.2 are two clients), and after the handshake a connection that sends nothing,
 * idles or trickles a body is closed within its timeout.
 */
const LIMITS = {
  HSMP_MAX_CONNECTIONS: '100',
  HSMP_MAX_CONNECTIONS_PER_IP: '20',
  HSMP_HEADERS_TIMEOUT_MS: '1000',
  HSMP_REQUEST_TIMEOUT_MS: '2000',
  HSMP_KEEP_ALIVE_TIMEOUT_MS: '1000',
};
/** Node checks the headers and request timeouts once a second; two busy shared cores. */
const SLACK_MS = 2500;
const FLOOD_SOCKETS = 200;
const COLLECTIONS = 10;

let service: TestService;
const number = datasetNumbers(1)[1][0];
beforeAll(async () => {
  service = await startTestService({ env: LIMITS });
  await seed(service);
}, 180_000);
afterAll(async () => {
  await service?.stop();
  await closeAgents();
});

function publicPort(): number {
  return Number(new URL(service.publicUrl).port);
}

/** Silent TCP sockets from one address, each reopened 200 ms after the server closes it. */
function flood(from: string, count: number): { stop(): void; opened(): number } {
  let stopped = false;
  let opened = 0;
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (stopped) return;
    opened++;
    const socket = net.connect({ host: '127.0.0.1', port: publicPort(), localAddress: from });
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      setTimeout(open, 200);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    stop: () => {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
    opened: () => opened,
  };
}

/** From 127.0.0.3: neither the flood's address nor the legitimate client's. */
function tlsOptions(): tls.ConnectionOptions {
  const pki = testPki();
  return {
    socket: net.connect({ host: '127.0.0.1', port: publicPort(), localAddress: '127.0.0.3' }),
    ca: readFileSync(pki.serverCa),
    cert: readFileSync(pki.clientCert('ap-production')),
    key: readFileSync(pki.clientKey('ap-production')),
  };
}

/** Opens a mutual TLS connection, lets `behave` use it, and resolves with the ms from the handshake to the server's close. */
function heldFor(behave: (socket: tls.TLSSocket) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let since = 0;
    const socket = tls.connect(tlsOptions(), () => {
      since = performance.now();
      behave(socket);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (since === 0) reject(new Error('closed before the handshake finished'));
      else resolve(performance.now() - since);
    });
  });
}

it(`${FLOOD_SOCKETS} silent sockets from 127.0.0.1, reopened as they close: 127.0.0.2 collects its key every time`, async () => {
  // The flood and the TLS handshakes share two busy cores with the service.
  const pki = testPki();
  const legitimate = new Agent({
    localAddress: '127.0.0.2',
    connect: {
      ca: readFileSync(pki.serverCa),
      cert: readFileSync(pki.clientCert('ap-production')),
      key: readFileSync(pki.clientKey('ap-production')),
    },
    pipelining: 0, // a fresh connection (and handshake) for every request
  });
  const attack = flood('127.0.0.1', FLOOD_SOCKETS);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const statuses: Array<number | string> = [];
    for (let i = 0; i < COLLECTIONS; i++) {
      const status = await request(`${service.publicUrl}/hermes-rw/migrationKey/${number}`, { dispatcher: legitimate }).then(
        async (r) => {
          await r.body.text();
          return r.statusCode;
        },
        (error: unknown) => (error as Error).message,
      );
      statuses.push(status);
    }
    expect(statuses).toEqual(Array(COLLECTIONS).fill(200));
    expect(attack.opened()).toBeGreaterThan(FLOOD_SOCKETS);
  } finally {
    attack.stop();
    await legitimate.close();
  }
}, 180_000);

it('a TLS connection that sends no request is closed after HSMP_HEADERS_TIMEOUT_MS', async () => {
  expect(await heldFor(() => undefined)).toBeLessThan(Number(LIMITS.HSMP_HEADERS_TIMEOUT_MS) + SLACK_MS);
}, 20_000);

it('an idle kept-alive connection is closed after HSMP_KEEP_ALIVE_TIMEOUT_MS', async () => {
  let answeredAt = 0;
  const held = await heldFor((socket) => {
    socket.on('data', () => (answeredAt = performance.now()));
    socket.write(`GET /hermes-rw/migrationKey/${number} HTTP/1.1\r\nHost: hsmp\r\nConnection: keep-alive\r\n\r\n`);
  });
  expect(answeredAt).toBeGreaterThan(0);
  expect(held).toBeLessThan(Number(LIMITS.HSMP_KEEP_ALIVE_TIMEOUT_MS) + SLACK_MS + 2000);
}, 20_000);

it('a request whose body trickles in is closed after HSMP_REQUEST_TIMEOUT_MS', async () => {
  let timer: NodeJS.Timeout | undefined;
  const held = await heldFor((socket) => {
    socket.write(`GET /hermes-rw/migrationKey/${number} HTTP/1.1\r\nHost: hsmp\r\nContent-Length: 100000\r\n\r\n`);
    timer = setInterval(() => socket.write('x'), 200);
  });
  clearInterval(timer);
  expect(held).toBeLessThan(Number(LIMITS.HSMP_REQUEST_TIMEOUT_MS) + SLACK_MS);
}, 20_000);
