import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { datasetNumbers } from '../../src/participants/datasets';
import { buildFault } from '../../src/sml/soap';
import { scrubSecret } from '../../src/sml/scrub';
import { closeAgents, testPki } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';

/**
 * An SML may echo its input in a fault: the migration key it was given must not reach a log
 * line, `/readyz`, the admin API or an answer (that key stays the participant's key). The
 * fake SML here speaks mutual TLS with the development PKI and refuses every prepare with a
 * fault that quotes the key, whole and in part.
 */
let sml: https.Server;
let smlUrl: string;
const keysSeen: string[] = [];
let faultKind: 'NotFound' | 'InternalError' = 'NotFound';

beforeAll(async () => {
  const pki = testPki();
  sml = https.createServer(
    {
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
      ca: (['root-test', 'root-production', 'smp-test', 'smp-production'] as const).map((ca) => readFileSync(pki.caCert(ca))),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const key = /MigrationKey>([^<]*)</.exec(body)?.[1] ?? '';
        keysSeen.push(key);
        const errorNumber = faultKind === 'NotFound' ? '[ERR-100]' : '[ERR-105]';
        const message = `${errorNumber} cannot prepare with key ${key} (upper: ${key.toUpperCase()}, start: ${key.slice(0, 12)}, encoded: ${encodeURIComponent(key)})`;
        res.writeHead(500, { 'content-type': 'text/xml' }).end(buildFault({ kind: faultKind, message }));
      });
    },
  );
  await new Promise<void>((resolve) => sml.listen(0, '127.0.0.1', resolve));
  smlUrl = `https://127.0.0.1:${(sml.address() as AddressInfo).port}/manageparticipantidentifier`;
});
afterAll(async () => {
  await new Promise((resolve) => sml?.close(resolve));
  await closeAgents();
});

describe('scrubSecret', () => {
  const key = 'aB3$(xY9-~Qw7!zK#2Lm%8Pp';
  it('removes the key whole, in another case, in part, and URL-encoded', () => {
    const text = `[ERR-100] bad ${key} / ${key.toUpperCase()} / ${key.slice(3, 15)} / ${encodeURIComponent(key)} end`;
    const scrubbed = scrubSecret(text, key);
    expect(scrubbed).toBe('[ERR-100] bad [migration key] / [migration key] / [migration key] / [migration key] end');
  });
  it('leaves a text without the key as it was', () => {
    expect(scrubSecret('[ERR-106] the key does not follow the rule', key)).toBe('[ERR-106] the key does not follow the rule');
  });
});

describe('an SML that echoes the key in its fault', () => {
  let service: TestService;
  const logLines: string[] = [];
  beforeAll(async () => {
    const pki = testPki();
    service = await startTestService({
      logLines,
      env: {
        HSMP_ENVIRONMENTS: 'test',
        HSMP_SML_URL_TEST: smlUrl,
        HSMP_SML_CERT_TEST: pki.clientCert('smp-test'),
        HSMP_SML_KEY_TEST: pki.clientKey('smp-test'),
        HSMP_SML_CA: pki.serverCa,
        HSMP_SML_RECONCILE_INTERVAL: '0',
      },
    });
    await seed(service);
    // Starting a service on two shared, busy cores can take longer than a test's minute.
  }, 180_000);
  afterAll(async () => {
    await service?.stop();
  });

  it.each(['InternalError', 'NotFound'] as const)('%s fault: the key is in no answer, no log line, not on /readyz nor /admin/health', async (kind) => {
    faultKind = kind;
    const before = keysSeen.length;
    const number = datasetNumbers(1)[1][kind === 'NotFound' ? 0 : 1];
    const answer = await service.get(`/hermes-rw/migrationKey/${number}?environment=test`, { accept: 'application/json', certificate: 'ap-test' });
    expect(answer.status).toBe(503);
    const key = keysSeen[before];
    expect(key).toMatch(/^.{24}$/);
    const ready = await service.get('/readyz').catch(() => undefined); // the public port has no /readyz
    const readyz = await fetch(`${service.adminUrl}/readyz`).then((r) => r.text());
    const health = (await service.admin('GET', '/admin/health')).body;
    expect(JSON.parse(readyz).sml.test).toBe(kind === 'NotFound' ? 'refuses this SMP' : 'unreachable');
    expect(JSON.parse(health).sml.test.lastProblem.message).toContain('[migration key]');
    const everything = [answer.body, ready?.body ?? '', readyz, health, ...logLines].join('\n');
    expect(logLines.some((line) => line.includes('[migration key]'))).toBe(true);
    for (const echo of [key, key.toUpperCase(), key.slice(0, 12), encodeURIComponent(key)]) expect(everything).not.toContain(echo);
  });
});
