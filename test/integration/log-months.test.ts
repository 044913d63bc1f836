import { brusselsDay } from '../../src/domain/brussels-day';
import { createLogger } from '../../src/log';
import { LogRetention } from '../../src/operations';
import { closeAgents } from '../support/pki';
import { startTestService, type TestService } from '../support/service';

/**
 * Sealed months folded into one partition each (migrations/012), in behaviour: the operators'
 * reads answer the same rows before and after (a day's pages by the id bounds the fold recorded,
 * migrations/013), a late row of a folded month lands in it and is read, and the retention removes
 * the expired days of a month partition with their counts and bounds, keeping the rest.
 * On the run's database: PostgreSQL with DATABASE_URL, else the embedded PGlite.
 */
const DAY_MS = 86_400_000;

afterAll(() => closeAgents());

let service: TestService;
const pool = () => service.database.pool;
const silent = createLogger('silent');

beforeAll(async () => {
  service = await startTestService();
});
afterAll(() => service?.stop());

/** The month of 100 days ago, as YYYY-MM, and a Brussels noon on its day `n`. */
const month = brusselsDay(new Date(Date.now() - 100 * DAY_MS)).slice(0, 7);
const noonOf = (n: number) => new Date(`${month}-${String(n).padStart(2, '0')}T10:00:00Z`);
const dayOf = (n: number) => `${month}-${String(n).padStart(2, '0')}`;

async function logRows(at: Date, count: number, participant: string): Promise<void> {
  await pool().query(
    `INSERT INTO collection_log (request_id, collected_at, seat_id, certificate_fingerprint, client_ip, environment, participant, outcome)
     SELECT gen_random_uuid(), $1::timestamptz + g * interval '1 second', 'PBE000001', 'f', '127.0.0.1', 'test', $2, 'HSMP-001'
       FROM generate_series(1, $3::int) g`,
    [at, participant, count],
  );
}

const partitionsOf = async (prefix: string) =>
  (
    await pool().query<{ name: string }>(
      `SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'collection_log'::regclass AND inhrelid::regclass::text LIKE $1 ORDER BY 1`,
      [`collection_log_${prefix}%`],
    )
  ).rows.map((r) => r.name);

/** Every page of a read (`participant=…` or `day=…`), `limit` at a time, as the API gives them. */
async function allPages(filter: string, limit: number): Promise<unknown[]> {
  const entries: unknown[] = [];
  let next: string | null = null;
  do {
    const answer = await service.admin('GET', `/admin/collections?${filter}&limit=${limit}${next ? `&before=${next}` : ''}`);
    expect(answer.status).toBe(200);
    entries.push(...answer.json().entries);
    next = answer.json().next;
  } while (next !== null);
  return entries;
}

describe('sealed months folded into one partition', () => {
  const participant = 'folded-month';

  it('moves every row of the month, its days and its strays, and the reads answer the same', async () => {
    for (const n of [1, 10, 20]) await pool().query('SELECT hsmp_collection_log_day($1::date)', [dayOf(n)]);
    await logRows(noonOf(1), 3, participant);
    await logRows(noonOf(10), 4, participant);
    await logRows(noonOf(20), 5, participant);
    // A day without its partition: its row waits in the default partition, and is folded too.
    await logRows(noonOf(25), 1, participant);
    const before = await allPages(`participant=${participant}`, 5);
    expect(before).toHaveLength(13);
    const byDay = (await service.admin('GET', `/admin/collections?day=${dayOf(10)}`)).json().entries;
    expect(byDay).toHaveLength(4);
    const dayPages = await allPages(`day=${dayOf(20)}`, 2);
    expect(dayPages).toHaveLength(5);

    const retention = new LogRetention(service.database, { retentionDays: 400, now: () => new Date(), logger: silent });
    const runs = [];
    for (let run = await retention.run(); run?.folded !== undefined; run = await retention.run()) runs.push(run.folded);
    expect(runs).toContainEqual({ month: `${month}-01`, rows: 13 });

    const monthPartition = `collection_log_${month.replace('-', '')}`;
    expect(await partitionsOf(month.replace('-', ''))).toEqual([monthPartition]);
    const strays = await pool().query<{ n: number }>(`SELECT count(*)::int AS n FROM collection_log_default WHERE participant = $1`, [participant]);
    expect(strays.rows[0].n).toBe(0);
    expect(await allPages(`participant=${participant}`, 5)).toEqual(before);
    expect(await allPages(`participant=${participant}`, 100)).toEqual(before);
    expect((await service.admin('GET', `/admin/collections?day=${dayOf(10)}`)).json().entries).toEqual(byDay);
    expect(await allPages(`day=${dayOf(20)}`, 2)).toEqual(dayPages);
    // Each day's id bounds were recorded at the fold; a day without rows has none.
    const bounds = await pool().query<{ day: string; min_id: string | null; max_id: string | null }>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, min_id::text, max_id::text FROM collection_log_sealed_day WHERE day IN ($1, $2)`,
      [dayOf(10), dayOf(5)],
    );
    const ids10 = (byDay as Array<{ id: string }>).map((e) => BigInt(e.id)).sort((a, b) => (a < b ? -1 : 1));
    expect(bounds.rows).toEqual(
      expect.arrayContaining([
        { day: dayOf(10), min_id: String(ids10[0]), max_id: String(ids10[ids10.length - 1]) },
        { day: dayOf(5), min_id: null, max_id: null },
      ]),
    );

    // A day of a folded month is its month's; a late row of it lands there, not in a new day.
    expect((await pool().query<{ p: string }>('SELECT hsmp_collection_log_day($1::date) AS p', [dayOf(12)])).rows[0].p).toBe(monthPartition);
    await logRows(noonOf(12), 1, 'late-row');
    await logRows(noonOf(5), 1, 'late-row');
    const where = await pool().query<{ t: string }>(`SELECT DISTINCT tableoid::regclass::text AS t FROM collection_log WHERE participant = 'late-row'`);
    expect(where.rows).toEqual([{ t: monthPartition }]);
    // Day reads find such a row, above the ids the fold recorded, also on a day that had none.
    for (const n of [12, 5]) {
      const entries = (await service.admin('GET', `/admin/collections?day=${dayOf(n)}`)).json().entries;
      expect(entries.map((e: { participant: string }) => e.participant)).toEqual(['late-row']);
    }
    // Folding again does nothing.
    expect((await pool().query<{ rows: string | null }>('SELECT hsmp_collection_log_fold_month($1::date) AS rows', [dayOf(1)])).rows[0].rows).toBeNull();
  });

  it('the retention deletes the expired days of a folded month with their counts, keeps the rest, and audits it', async () => {
    // The cutoff falls on the month's 15th or 16th: the 1st, 5th, 10th and 12th go; the 20th and 25th stay.
    const retentionDays = Math.floor((Date.now() - noonOf(15).getTime()) / DAY_MS);
    const cutoffDay = brusselsDay(new Date(Date.now() - retentionDays * DAY_MS));
    expect([dayOf(15), dayOf(16)]).toContain(cutoffDay);
    const run = await new LogRetention(service.database, { retentionDays, now: () => new Date(), logger: silent }).run();
    expect(run?.days).toEqual([
      { day: dayOf(1), rows: 3 },
      { day: dayOf(5), rows: 1 },
      { day: dayOf(10), rows: 4 },
      { day: dayOf(12), rows: 1 },
    ]);
    expect(run?.rows).toBe(9);
    const left = (await allPages(`participant=${participant}`, 100)) as Array<{ collected_at: string }>;
    expect(left.map((e) => brusselsDay(new Date(e.collected_at))).sort()).toEqual([...Array(5).fill(dayOf(20)), dayOf(25)]);
    const boundsLeft = await pool().query<{ day: string }>(`SELECT to_char(day, 'YYYY-MM-DD') AS day FROM collection_log_sealed_day ORDER BY day`);
    expect(boundsLeft.rows[0].day >= dayOf(15)).toBe(true);
    expect(boundsLeft.rows.map((r) => r.day)).toContain(dayOf(20));
    const audit = (await service.admin('GET', '/admin/audit?operator=retention')).json();
    expect(audit.entries[0]).toMatchObject({ action: 'collection-log-retention', details: { retentionDays, result: { rows: 9 } } });

    // Once the whole month is past the retention, its partition is dropped with the rest of its rows.
    const later = await new LogRetention(service.database, { retentionDays: 1, now: () => new Date(), logger: silent }).run();
    expect(later?.days).toEqual(
      expect.arrayContaining([
        { day: dayOf(20), rows: 5 },
        { day: dayOf(25), rows: 1 },
      ]),
    );
    expect(await partitionsOf(month.replace('-', ''))).toEqual([]);
  });
});
