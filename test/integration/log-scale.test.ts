import { randomUUID } from 'node:crypto';
import pg from 'pg';
import Redis from 'ioredis';
import { brusselsDay } from '../../src/domain/brussels-day';
import { createLogger } from '../../src/log';
import { LogRetention } from '../../src/operations';
import { RefusalLog } from '../../src/participants/refusal-log';
import { closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { itWithServers, startTestService, type TestService } from '../support/service';

/**
 * The collection log at production size, in behaviour (figures are bench:scale's): retention drops
 * whole days and audits the counts (months folded: log-months.test), one instance at a time; a read that is too slow is a 503 that
 * says to narrow the filter; /admin/usage answers a page; one row per request, saying what was
 * answered. On the run's database: PostgreSQL with DATABASE_URL, else the embedded PGlite.
 */
const DAY_MS = 86_400_000;
const daysBack = (n: number) => new Date(Date.now() - n * DAY_MS);

afterAll(() => closeAgents());

let service: TestService;
let keyed: string[];
beforeAll(async () => {
  service = await startTestService();
  keyed = (await seed(service))[1];
});
afterAll(() => service?.stop());

const pool = () => service.database.pool;

async function logRows(day: Date, count: number, participant = 'retention-test'): Promise<void> {
  await pool().query(
    `INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, outcome)
     SELECT gen_random_uuid(), $1, 'PBE000001', 'f', '127.0.0.1', 'test', $2, 'HSMP-001' FROM generate_series(1, $3::int)`,
    [day, participant, count],
  );
}

describe('collection log retention', () => {
  it('drops the days older than the retention whole, keeps the others, and audits the counts', async () => {
    const dayOf = (n: number) => brusselsDay(daysBack(n));
    for (const back of [403, 402, 398]) await pool().query('SELECT hsmp_collection_log_day($1::date)', [dayOf(back)]);
    await logRows(daysBack(403), 3);
    await logRows(daysBack(402), 2);
    await logRows(daysBack(398), 4);
    // A row of a day without its partition waits in the default one, and is removed too.
    await logRows(daysBack(500), 1);

    const retention = new LogRetention(service.database, { retentionDays: 400, now: () => new Date(), logger: createLogger('silent') });
    const run = await retention.run();
    expect(run?.days).toEqual([
      { day: dayOf(403), rows: 3 },
      { day: dayOf(402), rows: 2 },
    ]);
    expect(run?.rows).toBe(6);
    const left = await pool().query<{ n: string }>(`SELECT count(*) AS n FROM collection_log WHERE participant = 'retention-test'`);
    expect(Number(left.rows[0].n)).toBe(4);
    const partitions = (await pool().query<{ day: string }>(`SELECT to_char(day, 'YYYY-MM-DD') AS day FROM collection_log_days`)).rows.map((r) => r.day);
    expect(partitions).not.toContain(dayOf(403));
    // The same run folded the day left of that sealed month into the month's partition.
    expect(run?.folded).toEqual({ month: `${dayOf(398).slice(0, 7)}-01`, rows: 4 });
    expect(partitions).not.toContain(dayOf(398));
    // Today and the week ahead have their partitions.
    for (let ahead = 0; ahead <= 7; ahead++) expect(partitions).toContain(brusselsDay(new Date(Date.now() + ahead * DAY_MS)));

    const audit = (await service.admin('GET', '/admin/audit?operator=retention')).json();
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({ action: 'collection-log-retention', details: { retentionDays: 400, result: { rows: 6 } } });
    // A run with nothing to remove writes no audit row.
    expect((await retention.run())?.rows).toBe(0);
    expect((await service.admin('GET', '/admin/audit?operator=retention')).json().entries).toHaveLength(1);
  });

  it('a row of a day whose partition comes later moves into it', async () => {
    const day = daysBack(-30);
    await logRows(day, 2, 'moved-later');
    expect((await pool().query(`SELECT tableoid::regclass::text AS t FROM collection_log WHERE participant = 'moved-later'`)).rows[0].t).toBe(
      'collection_log_default',
    );
    const partition = (await pool().query<{ p: string }>('SELECT hsmp_collection_log_day($1::date) AS p', [brusselsDay(day)])).rows[0].p;
    const where = await pool().query<{ t: string }>(`SELECT DISTINCT tableoid::regclass::text AS t FROM collection_log WHERE participant = 'moved-later'`);
    expect(where.rows).toEqual([{ t: partition }]);
  });

  itWithServers('DATABASE_URL')('runs on one instance at a time: another holding the lock makes a run skip', async () => {
    const other = new pg.Client({ connectionString: service.env.DATABASE_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [0x48534d52]);
      const retention = new LogRetention(service.database, { retentionDays: 400, now: () => new Date(), logger: createLogger('silent') });
      expect(await retention.run()).toBeUndefined();
      await other.query('ROLLBACK');
      expect(await retention.run()).toBeDefined();
    } finally {
      await other.end();
    }
  });
});

describe('operator reads of the log', () => {
  it('finds a participant by any spelling, garbage as asked, and pages by id', async () => {
    const n = keyed[0];
    const ok = await service.get(`/hermes-rw/migrationKey/BE${n.slice(0, 4)}.${n.slice(4, 7)}.${n.slice(7)}`);
    expect(ok.status).toBe(200);
    await service.get('/hermes-rw/migrationKey/not-a-number-at-all');
    const spelled = (await service.admin('GET', `/admin/collections?participant=iso6523-actorid-upis::0208:${n}`)).json();
    expect(spelled.entries.map((e: { request_id: string }) => e.request_id)).toContain(ok.headers['x-request-id']);
    const until = async () => {
      for (let i = 0; i < 50; i++) {
        const page = (await service.admin('GET', '/admin/collections?participant=not-a-number-at-all')).json();
        if (page.entries.length > 0) return page;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('garbage refusal not logged');
    };
    expect((await until()).entries[0]).toMatchObject({ participant: 'not-a-number-at-all', outcome: 'HSMP-001', enterprise_number: null });
    const first = (await service.admin('GET', '/admin/collections?limit=2')).json();
    const second = (await service.admin('GET', `/admin/collections?limit=2&before=${first.next}`)).json();
    expect(Number(second.entries[0].id)).toBeLessThan(Number(first.entries[1].id));
  });

  it('a read without a day pages through every day once, highest id first, even when an older day holds a higher id', async () => {
    // Days in every read window (open days, then sealed ones 7, 30, 90 at a time, then the rest);
    // the day 250 back gets its row last, so its id is above those of the newer days.
    const participant = 'across-the-days';
    const backs = [0, 2, 3, 5, 9, 12, 20, 45, 80, 130, 200, 250, 300];
    for (const back of backs) await pool().query('SELECT hsmp_collection_log_day($1::date)', [brusselsDay(daysBack(back))]);
    for (const back of backs) if (back !== 250) await logRows(daysBack(back), 3, participant);
    await logRows(daysBack(250), 1, participant);
    const expected = (
      await pool().query<{ id: string }>('SELECT id::text AS id FROM collection_log WHERE participant = $1 ORDER BY id DESC', [participant])
    ).rows.map((r) => r.id);
    expect(expected).toHaveLength(37);
    for (const limit of [4, 100]) {
      const seen: string[] = [];
      let next: string | null = null;
      do {
        const answer = await service.admin('GET', `/admin/collections?participant=${participant}&limit=${limit}${next ? `&before=${next}` : ''}`);
        expect(answer.status).toBe(200);
        const page = answer.json();
        seen.push(...page.entries.map((e: { id: string }) => e.id));
        next = page.next;
      } while (next !== null && seen.length < 100);
      expect(seen).toEqual(expected);
    }
    expect((await service.admin('GET', '/admin/collections?participant=never-asked-on-any-day')).json()).toEqual({ entries: [], next: null });
  });

  itWithServers('DATABASE_URL')('a read slower than its bound answers 503 narrow-the-filter, never 500', async () => {
    // A lock held on the log makes any read of it wait past the bound, which cancels the statement.
    const blocker = new pg.Client({ connectionString: service.env.DATABASE_URL });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE');
      const answer = await service.admin('GET', '/admin/audit');
      expect(answer.status).toBe(503);
      expect(answer.json()).toMatchObject({ code: 'narrow-the-filter', status: 503 });
      expect(answer.json().detail).toMatch(/narrow the filter/);
      await blocker.query('ROLLBACK');
      expect((await service.admin('GET', '/admin/audit')).status).toBe(200);
    } finally {
      await blocker.end();
    }
  });
});

describe('usage, bounded', () => {
  it('answers the totals and a page of each list, busiest first, and pages the rest', async () => {
    const day = brusselsDay(new Date());
    for (let i = 0; i < 120; i++) {
      for (let n = 0; n <= i % 3; n++) await service.counters.increment(day, { user: `test:PBE-USAGE-${i % 4}`, ip: `198.51.100.${i}` });
    }
    const first = (await service.admin('GET', '/admin/usage?limit=50')).json();
    expect(first.ips).toHaveLength(50);
    expect(first.totals.ips).toBeGreaterThanOrEqual(120);
    expect(first.ips[0].count).toBeGreaterThanOrEqual(first.ips[49].count);
    expect(first.next).toBe(50);
    const last = (await service.admin('GET', `/admin/usage?limit=50&offset=100`)).json();
    expect(last.ips.length).toBe(first.totals.ips - 100);
    expect(last.next).toBeNull();
    const all = (await service.admin('GET', '/admin/usage?limit=1000')).json();
    expect(new Set([...first.ips, ...last.ips].map((i: { address: string }) => i.address)).size).toBe(50 + last.ips.length);
    expect(all.users.filter((u: { seatId: string }) => u.seatId.startsWith('PBE-USAGE-'))).toHaveLength(4);
  });

  itWithServers('REDIS_URL')("reads only this service's keys", async () => {
    const day = brusselsDay(new Date());
    const redis = new Redis(service.env.REDIS_URL);
    const foreign = [`${service.env.HSMP_REDIS_PREFIX}x:quota:${day}:ip:203.0.113.1`, `other-service:quota:${day}:ip:203.0.113.2`];
    try {
      for (const key of foreign) await redis.set(key, '7');
      const usage = (await service.admin('GET', '/admin/usage?limit=1000')).json();
      expect(usage.ips.map((i: { address: string }) => i.address)).not.toEqual(expect.arrayContaining(['203.0.113.1']));
      expect(usage.ips.map((i: { address: string }) => i.address)).not.toEqual(expect.arrayContaining(['203.0.113.2']));
    } finally {
      await redis.del(...foreign);
      redis.disconnect();
    }
  });
});

describe('one collection-log row per request, saying what was answered (issue 20, item 6)', () => {
  const rowsOf = async (requestId: string) =>
    (await pool().query<{ outcome: string }>('SELECT outcome FROM collection_log WHERE request_id = $1', [requestId])).rows.map((r) => r.outcome);

  it('a refusal written again after a timeout that had committed is one row', async () => {
    const context = { requestId: randomUUID(), requestedAt: new Date(), seatId: 'PBE000001', fingerprint: 'f', clientIp: '127.0.0.1' };
    for (let attempt = 0; attempt < 2; attempt++) {
      const log = new RefusalLog(pool(), { maxPending: 10, onLost: () => undefined, logger: createLogger('silent') });
      log.offer({ context, environment: 'test', participant: 'twice', outcome: 'HSMP-001' });
      await log.close();
    }
    expect(await rowsOf(context.requestId)).toEqual(['HSMP-001']);
  });

  it('the database refuses a second row with the same request id and time', async () => {
    const id = randomUUID();
    const at = new Date();
    const insert = () =>
      pool().query(
        `INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, outcome)
         VALUES ($1, $2, 'PBE000001', 'f', '127.0.0.1', 'test', 'x', '200')`,
        [id, at],
      );
    await insert();
    await expect(insert()).rejects.toMatchObject({ code: '23505' });
  });

  itWithServers('DATABASE_URL')(
    'a collection answered 503 after its statement outlived the timeout is logged once, as the 503',
    async () => {
      // A first collection waits on a concurrent insert of the same key past the pool's 5 s timeout:
      // the access point gets 503; the statement may still commit after. The row must say 503.
      const number = keyed[1];
      await pool().query('DELETE FROM migration_key WHERE enterprise_number = $1', [number]);
      const blocker = new pg.Client({ connectionString: service.env.DATABASE_URL });
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query(`INSERT INTO migration_key (enterprise_number, environment, key_ciphertext, key_digest) VALUES ($1, 'test', '\\x00', '\\x01')`, [
          number,
        ]);
        const answer = await service.get(`/hermes-rw/migrationKey/${number}`);
        expect(answer.status).toBe(503);
        await blocker.query('ROLLBACK');
        const requestId = String(answer.headers['x-request-id']);
        let rows: string[] = [];
        for (let i = 0; i < 100 && !(rows.length === 1 && rows[0] !== '200'); i++) {
          await new Promise((r) => setTimeout(r, 100));
          rows = await rowsOf(requestId);
        }
        expect(rows).toEqual(['HSMP-999']);
      } finally {
        await blocker.end();
      }
    },
    30_000,
  );
});
