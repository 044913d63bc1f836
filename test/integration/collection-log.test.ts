import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/log';
import { RefusalLog } from '../../src/participants/refusal-log';
import { closeAgents } from '../support/pki';
import { startServiceBehindRelay } from '../support/relay';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';

/** The collection log keeps every refusal: odd text, a database that goes away, a full queue. */
const garbage = (i: number) => `/hermes-rw/migrationKey/garbage-${i}`;
const logged = async (service: TestService, participantLike: string) =>
  (await service.database.pool.query('SELECT participant, environment, outcome FROM collection_log WHERE participant LIKE $1 ORDER BY id', [participantLike]))
    .rows;
const until = async (check: () => Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
};

afterAll(() => closeAgents());

describe('collection log', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startTestService();
    await seed(service);
  });
  afterAll(() => service?.stop());

  it('a NUL in an id or environment is stored visibly and costs no other row', async () => {
    const answers = await Promise.all([
      ...Array.from({ length: 58 }, (_, i) => service.get(garbage(i))),
      service.get('/hermes-rw/migrationKey/nul%00here'),
      service.get('/hermes-rw/migrationKey/0200065765?environment=te%00st'),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(59).fill(404), 400].sort());
    // Refusals are written after the answer, in batches: wait for all 60 rows, not only the garbage ones.
    const environmentsRefused = async () =>
      (await service.database.pool.query<{ environment: string }>("SELECT environment FROM collection_log WHERE outcome = 'HSMP-010'")).rows.map(
        (r) => r.environment,
      );
    await until(
      async () =>
        (await logged(service, 'garbage-%')).length === 58 &&
        (await logged(service, 'nul%')).length === 1 &&
        (await environmentsRefused()).includes('te\\u0000st'),
    );
    expect(await logged(service, 'nul%')).toEqual([{ participant: 'nul\\u0000here', environment: 'test', outcome: 'HSMP-001' }]);
  });

  it('a batch PostgreSQL refuses is written row by row: only the bad row is lost, and counted', async () => {
    const lost: number[] = [];
    const log = new RefusalLog(service.database.pool, { maxPending: 100, onLost: (n) => lost.push(n), logger: createLogger('silent') });
    const context = (requestId: string) => ({ requestId, requestedAt: new Date(), seatId: 'PBE000001', fingerprint: 'f', clientIp: '127.0.0.1' });
    for (let i = 0; i < 9; i++)
      expect(log.offer({ context: context(randomUUID()), environment: 'test', participant: `row-by-row-${i}`, outcome: 'HSMP-001' })).toBe(true);
    log.offer({ context: context('not-a-uuid'), environment: 'test', participant: 'row-by-row-bad', outcome: 'HSMP-001' });
    await log.close();
    expect((await logged(service, 'row-by-row-%')).map((r) => r.participant)).toEqual(Array.from({ length: 9 }, (_, i) => `row-by-row-${i}`));
    expect(lost).toEqual([1]);
  });
});

describe('collection log while the database is away', () => {
  it('queues refusals (bounded), answers 503 once full, and writes every queued row after the outage', async () => {
    const { service, proxy, stop } = await startServiceBehindRelay({ HSMP_REFUSAL_LOG_MAX_PENDING: '20' });
    try {
      await seed(service);
      // The day's counters are set up (from the log, SPEC §3) by the day's first query: that one
      // needs the database; the refusals after it do not.
      expect((await service.get(garbage(999))).status).toBe(404);
      await until(async () => (await logged(service, 'garbage-999')).length === 1, 5_000);
      await proxy.cut();
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await service.get(garbage(1000 + i))).status);
      expect(statuses).toEqual([...Array(20).fill(404), ...Array(10).fill(503)]);
      await proxy.restore();
      await until(async () => (await logged(service, 'garbage-1%').catch(() => [])).length === 20, 15_000);
      expect((await logged(service, 'garbage-1%')).map((r) => r.participant)).toEqual(Array.from({ length: 20 }, (_, i) => `garbage-${1000 + i}`));
      const metrics = await fetch(`${service.adminUrl}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/hsmp_collection_log_lost_total 0/);
    } finally {
      await stop();
    }
  });
});
