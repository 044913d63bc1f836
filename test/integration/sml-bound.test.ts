import { readFileSync } from 'node:fs';
import { datasetNumbers } from '../../src/participants/datasets';
import { SmlClient, SmlUnavailable } from '../../src/sml';
import { closeAgents, testPki } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';
import { startSilentServer, type SilentServer } from '../support/silent-server';

/**
 * SPEC §9: HSMP_SML_TIMEOUT_MS bounds an SML call from the moment it is made, also when the
 * SML accepts TCP and never finishes the TLS handshake, and also for calls queued behind
 * others; during such an outage first collections do not pile up on the public port.
 */
const TIMEOUT_MS = 1000;
/**
 * TLS handshakes of 20 clients on two shared (and often busy) cores; still far below the 10 s
 * (undici's connect timeout) and more that these calls took before.
 */
const SLACK_MS = 3000;

let silent: SilentServer;
beforeAll(async () => {
  silent = await startSilentServer();
});
afterAll(async () => {
  await silent?.close();
  await closeAgents();
});

function clientOfSilentSml(maxInFlight?: number): SmlClient {
  const pki = testPki();
  return new SmlClient(
    {
      url: `https://127.0.0.1:${silent.port}/manageparticipantidentifier`,
      cert: readFileSync(pki.clientCert('smp-test')),
      key: readFileSync(pki.clientKey('smp-test')),
      ca: readFileSync(pki.serverCa),
    },
    { timeoutMs: TIMEOUT_MS, ...(maxInFlight ? { maxInFlight } : {}) },
  );
}

/** Each call's outcome (its SmlUnavailable reason) and how long it took to get it. */
async function callsAtOnce(client: SmlClient, count: number): Promise<Array<{ reason: string; ms: number }>> {
  const numbers = datasetNumbers(1)[1];
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const started = performance.now();
      const reason = await client.prepareToMigrate({ smpId: 'HERMES-SMP', participant: `0208:${numbers[i % numbers.length]}`, migrationKey: 'k' }).then(
        () => 'answered',
        (error: unknown) => (error instanceof SmlUnavailable ? error.reason : String(error)),
      );
      return { reason, ms: performance.now() - started };
    }),
  );
}

describe('an SML that accepts TCP and never finishes TLS', () => {
  it('20 concurrent calls (more than the 8 connections) each fail with a timeout within the bound', async () => {
    const client = clientOfSilentSml();
    try {
      const outcomes = await callsAtOnce(client, 20);
      expect(outcomes.map((o) => o.reason)).toEqual(Array(20).fill('timeout'));
      expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(Math.min(...outcomes.map((o) => o.ms))).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    } finally {
      await client.close();
    }
  });

  it('calls beyond HSMP_SML_MAX_IN_FLIGHT fail at once instead of queueing', async () => {
    const client = clientOfSilentSml(4);
    try {
      const outcomes = await callsAtOnce(client, 20);
      const busy = outcomes.filter((o) => o.reason === 'busy');
      expect(outcomes.filter((o) => o.reason === 'timeout')).toHaveLength(4);
      expect(busy).toHaveLength(16);
      expect(Math.max(...busy.map((o) => o.ms))).toBeLessThan(SLACK_MS);
    } finally {
      await client.close();
    }
  });
});

describe('the service while its SML hangs in the handshake', () => {
  let service: TestService;
  beforeAll(async () => {
    const pki = testPki();
    service = await startTestService({
      env: {
        HSMP_ENVIRONMENTS: 'test',
        HSMP_SML_TIMEOUT_MS: String(TIMEOUT_MS),
        HSMP_SML_MAX_IN_FLIGHT: '8',
        HSMP_SML_URL_TEST: `https://127.0.0.1:${silent.port}/manageparticipantidentifier`,
        HSMP_SML_CERT_TEST: pki.clientCert('smp-test'),
        HSMP_SML_KEY_TEST: pki.clientKey('smp-test'),
        HSMP_SML_CA: pki.serverCa,
        HSMP_SML_RECONCILE_INTERVAL: '0',
      },
    });
    await seed(service, 2);
    // Starting a service on two shared, busy cores can take longer than a test's minute.
  }, 180_000);
  afterAll(async () => {
    await service?.stop();
  });

  it('20 concurrent first collections: every one a 503 with Retry-After within the bound, no key', async () => {
    const numbers = [...datasetNumbers(1)[1], ...datasetNumbers(2)[1]];
    const answers = await Promise.all(
      numbers.map(async (number) => {
        const started = performance.now();
        const response = await service.get(`/hermes-rw/migrationKey/${number}?environment=test`, { accept: 'application/json', certificate: 'ap-test' });
        return { status: response.status, retryAfter: response.headers['retry-after'], body: response.body, ms: performance.now() - started };
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(503));
    expect(answers.every((a) => a.retryAfter !== undefined && !a.body.includes('migrationKey'))).toBe(true);
    // Through the whole service (20 handshakes, certificate checks, the database) on busy
    // shared cores (measured up to 6.6 s at the median there): below undici's 10 s connect
    // timeout at the median, and none near what queueing behind
    // hung connections cost before (p50 21 s, max 32 s for 20 calls at a 2 s timeout).
    const sorted = answers.map((a) => a.ms).sort((a, b) => a - b);
    expect(sorted[sorted.length / 2]).toBeLessThan(9_000);
    expect(sorted[sorted.length - 1]).toBeLessThan(15_000);
  });
});
