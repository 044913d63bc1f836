import { request } from 'undici';
import { datasetNumbers, type Dataset } from '../../src/participants/datasets';
import { satisfiesSmlKeyRule } from '../../src/participants/migration-key';
import { withCheckDigits } from '../../src/participants/participant-id';
import { clientAgent, closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { itWithServers, startTestService, type TestService } from '../support/service';
import { startServiceBehindRelay } from '../support/relay';

/** SPEC §2 and §5 answers, over real mutual TLS against the run's database. */
let service: TestService;
let data: Dataset;
const logLines: string[] = [];
const route = (id: string, query = '') => `/hermes-rw/migrationKey/${encodeURIComponent(id)}${query}`;
const xmlValue = (body: string, element: string) => new RegExp(`<${element}[^>]*>([^<]*)</${element}>`).exec(body)?.[1];

beforeAll(async () => {
  // The burst below opens over a hundred connections from one address: above the per-address cap.
  service = await startTestService({ logLines, env: { HSMP_MAX_CONNECTIONS_PER_IP: '1000' } });
  data = await seed(service, 2);
});
afterAll(async () => {
  await service?.stop();
  await closeAgents();
});

describe('200: the pair', () => {
  it('XML by default, as in SPEC §2', async () => {
    const response = await service.get(route(data[1][0]), { accept: '*/*' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toContain('application/xml');
    expect(response.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\s*<MigrationRecord>/);
    expect(xmlValue(response.body, 'ServiceMetadataPublisherID')).toBe('HERMES-SMP');
    expect(response.body).toContain(`<ParticipantIdentifier scheme="iso6523-actorid-upis">0208:${data[1][0]}</ParticipantIdentifier>`);
    expect(satisfiesSmlKeyRule(xmlValue(response.body, 'MigrationKey') ?? '')).toBe(true);
  });

  it('JSON when asked', async () => {
    const response = await service.get(route(data[5][0], '?environment=production'), { accept: 'application/json' });
    expect(response.status).toBe(200);
    const body = response.json();
    expect(body).toEqual({
      serviceMetadataPublisherId: 'HERMES-SMP',
      participantIdentifier: { scheme: 'iso6523-actorid-upis', value: `0208:${data[5][0]}` },
      enterpriseNumber: data[5][0],
      environment: 'production',
      migrationKey: expect.any(String),
    });
    expect(satisfiesSmlKeyRule(body.migrationKey)).toBe(true);
  });

  it('the same key on every spelling, on a second call and for a second access point', async () => {
    const number = data[1][1];
    const dotted = `${number.slice(0, 4)}.${number.slice(4, 7)}.${number.slice(7)}`;
    const spellings = [
      number,
      dotted,
      `BE${number}`,
      `BE${dotted}`,
      `0208:${number}`,
      `9956:${number}`,
      `iso6523-actorid-upis::0208:${number}`,
      `ISO6523-ACTORID-UPIS::9956:${number}`,
    ];
    const keys = new Set<string>();
    for (const id of spellings) {
      const response = await service.get(route(id), { accept: 'application/json' });
      expect(response.status).toBe(200);
      expect(response.json().participantIdentifier.value).toBe(`0208:${number}`);
      keys.add(response.json().migrationKey);
    }
    keys.add((await service.get(route(number), { certificate: 'ap-test', accept: 'application/json' })).json().migrationKey);
    expect(keys.size).toBe(1);
  });

  it('one key per environment; distinct participants get distinct keys', async () => {
    const key = async (id: string, environment: string) =>
      (await service.get(route(id, `?environment=${environment}`), { accept: 'application/json' })).json().migrationKey;
    const test = await key(data[5][1], 'test');
    const production = await key(data[5][1], 'production');
    expect(test).not.toBe(production);
    const all = await Promise.all([...data[1], ...data[5]].map((id) => key(id, 'test')));
    expect(new Set(all).size).toBe(all.length);
  });

  it('50 concurrent first collections over separate connections → one key', async () => {
    const number = data[5][9];
    const responses = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const agent = i % 2 ? clientAgent('ap-production', { keepAlive: false }) : clientAgent('ap-test', { keepAlive: false });
        const response = await request(`${service.publicUrl}${route(number)}`, { dispatcher: agent, headers: { accept: 'application/json' } });
        return { status: response.statusCode, body: (await response.body.json()) as { migrationKey: string } };
      }),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(responses.map((r) => r.body.migrationKey)).size).toBe(1);
    const { rows } = await service.database.pool.query("SELECT count(*)::int AS n FROM migration_key WHERE enterprise_number = $1 AND environment = 'test'", [
      number,
    ]);
    expect(rows[0].n).toBe(1);
  });
});

describe('collections travel in batches (group commit)', () => {
  it('a burst of mixed collections answers each as it would alone and logs each once', async () => {
    const expected: Array<[string, number, string | undefined]> = [];
    for (let i = 0; i < 6; i++) {
      expected.push(
        [data[1][i], 200, undefined],
        [data[5][i], 200, undefined],
        [data[2][i], 404, 'HSMP-013'],
        [data[3][i], 404, 'HSMP-012'],
        [data[4][i], 404, 'HSMP-001'],
      );
    }
    expected.push([withCheckDigits('00000002'), 404, 'HSMP-001']);
    // Each participant twice in the burst, in both environments: twins may share a batch.
    const burst = [...expected, ...expected].flatMap(([id, status, code]) => [
      { id, environment: 'test', status, code },
      { id, environment: 'production', status, code },
    ]);
    const answers = await Promise.all(
      burst.map(async ({ id, environment }) => {
        const response = await service.get(route(id, `?environment=${environment}`), { accept: 'application/json' });
        return { status: response.status, body: response.json(), requestId: String(response.headers['x-request-id']) };
      }),
    );
    expect(answers.map((a) => [a.status, a.body.code])).toEqual(burst.map((b) => [b.status, b.code]));
    const keyOf = new Map<string, string>();
    answers.forEach((answer, i) => {
      if (answer.status !== 200) return;
      const slot = `${burst[i].id}/${burst[i].environment}`;
      expect(keyOf.get(slot) ?? answer.body.migrationKey).toBe(answer.body.migrationKey);
      keyOf.set(slot, answer.body.migrationKey);
    });
    expect(new Set(keyOf.values()).size).toBe(keyOf.size);
    const { rows } = await service.database.pool.query(
      'SELECT request_id::text AS id, count(*)::int AS n FROM collection_log WHERE request_id = ANY($1::uuid[]) GROUP BY 1',
      [answers.filter((a) => a.status === 200 || a.body.code !== 'HSMP-001').map((a) => a.requestId)],
    );
    expect(rows).toHaveLength(answers.filter((a) => a.status === 200 || a.body.code !== 'HSMP-001').length);
    expect(rows.every((r: { n: number }) => r.n === 1)).toBe(true);
  });

  it('a batch works through its participants in key order, whatever order they came in', async () => {
    // Concurrent batches then take their new key rows in one global order: no deadlock.
    const fresh = datasetNumbers(2); // seeded, never collected elsewhere
    const slots = [...fresh[5]].reverse().flatMap((n) => [
      [n, 'test'],
      [n, 'production'],
    ]);
    const requestIds = slots.map((_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const { rows } = await service.database.pool.query(
      `SELECT ordinal, outcome FROM hsmp_collect_many($1::char(10)[], $2::text[], $3::bytea[], $4::bytea[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], false, $10::timestamptz[])`,
      [
        slots.map(([n]) => n),
        slots.map(([, e]) => e),
        slots.map((_, i) => Buffer.from(`ciphertext ${i}`)),
        slots.map((_, i) => Buffer.from(`digest ${i}`)),
        requestIds,
        slots.map(() => 'PBE000001'),
        slots.map(() => 'f'),
        slots.map(() => '127.0.0.1'),
        slots.map(([n]) => `0208:${n}`),
        slots.map(() => new Date()),
      ],
    );
    expect(rows.every((r: { outcome: string }) => r.outcome === '200')).toBe(true);
    expect(rows.map((r: { ordinal: number }) => r.ordinal).sort((a: number, b: number) => a - b)).toEqual(slots.map((_, i) => i + 1));
    const logged = await service.database.pool.query(
      'SELECT enterprise_number, environment FROM collection_log WHERE request_id = ANY($1::uuid[]) ORDER BY id',
      [requestIds],
    );
    const inKeyOrder = [...slots].sort(([a, x], [b, y]) => (a + x < b + y ? -1 : 1)).map(([n, e]) => `${n} ${e}`);
    expect(logged.rows.map((r: { enterprise_number: string; environment: string }) => `${r.enterprise_number} ${r.environment}`)).toEqual(inKeyOrder);
  });
});

describe('404 and 400 answers carry the participant', () => {
  it.each([
    ['HSMP-013', 'type 2, migrated', () => data[2][0], true],
    ['HSMP-012', 'type 3, deleted', () => data[3][0], true],
    ['HSMP-001', 'type 4, invalid (echoed as asked)', () => data[4][0], false],
    ['HSMP-001', 'a valid number hsmp does not hold', () => withCheckDigits('00000001'), true],
  ])('%s for %s', async (code, _name, id, canonical) => {
    const number = id();
    const xml = await service.get(route(number));
    expect(xml.status).toBe(404);
    expect(xmlValue(xml.body, 'Code')).toBe(code);
    const expectedId = canonical ? `0208:${number}` : number;
    expect(xml.body).toContain(`<ParticipantIdentifier scheme="iso6523-actorid-upis">${expectedId}</ParticipantIdentifier>`);
    const json = await service.get(route(number), { accept: 'application/json' });
    expect(json.headers['content-type']).toContain('application/problem+json');
    expect(json.json()).toMatchObject({ status: 404, code, participantId: expectedId });
  });

  it('garbage is echoed safely: XML-escaped, control characters replaced, bounded', async () => {
    const response = await service.get(route('<x>&"\u0001' + 'y'.repeat(300)));
    expect(response.status).toBe(404);
    expect(xmlValue(response.body, 'Code')).toBe('HSMP-001');
    expect(response.body).toContain('&lt;x&gt;&amp;"\uFFFD');
    expect(response.body).not.toContain('y'.repeat(200));
  });

  it('an environment this deployment does not serve → 400 HSMP-010', async () => {
    for (const environment of ['acceptance', '', 'test&environment=production']) {
      const response = await service.get(route(data[1][0], `?environment=${environment}`));
      expect(response.status).toBe(400);
      expect(xmlValue(response.body, 'Code')).toBe('HSMP-010');
    }
  });
});

describe('records and secrecy', () => {
  it('records every collection, and no key appears in logs, the log table or in clear in the key table', async () => {
    const response = await service.get(route(data[1][2]), { accept: 'application/json' });
    const key: string = response.json().migrationKey;
    const requestId = response.headers['x-request-id'];
    const { rows } = await service.database.pool.query('SELECT * FROM collection_log WHERE request_id = $1', [requestId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ seat_id: 'PBE000001', enterprise_number: data[1][2], outcome: '200', environment: 'test', client_ip: '127.0.0.1' });
    expect(rows[0].certificate_fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const refused = await service.get(route('garbage'));
    // Refusals are recorded off the hot path: wait (bounded) for the row.
    let refusedRows: unknown[] = [];
    for (let i = 0; i < 20 && refusedRows.length === 0; i++) {
      refusedRows = (
        await service.database.pool.query('SELECT outcome, participant FROM collection_log WHERE request_id = $1', [refused.headers['x-request-id']])
      ).rows;
      if (refusedRows.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(refusedRows).toEqual([{ outcome: 'HSMP-001', participant: 'garbage' }]);

    expect(logLines.some((l) => l.includes(String(requestId)))).toBe(true);
    expect(logLines.join('\n')).not.toContain(key);
    const stored = await service.database.pool.query("SELECT key_ciphertext FROM migration_key WHERE enterprise_number = $1 AND environment = 'test'", [
      data[1][2],
    ]);
    expect(Buffer.from(stored.rows[0].key_ciphertext).includes(Buffer.from(key))).toBe(false);
    const dump = await service.database.pool.query("SELECT string_agg(c::text, '') AS t FROM collection_log c");
    expect(dump.rows[0].t).not.toContain(key);
  });
});

describe('two instances sharing one database', () => {
  // The embedded database belongs to one process: this needs a real server.
  itWithServers('DATABASE_URL')('concurrent first collections through both → one key', async () => {
    const second = await startTestService({ sameStoreAs: service });
    try {
      const number = data[1][9];
      const keys = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => (await (i % 2 ? service : second).get(route(number), { accept: 'application/json' })).json().migrationKey),
      );
      expect(new Set(keys).size).toBe(1);
    } finally {
      await second.stop();
    }
  });
});

describe('database outage', () => {
  it('answers 503 with Retry-After within a bounded time while the database is cut off, and recovers by itself; the 503s cost no quota', async () => {
    const lines: string[] = [];
    const { service: cut, proxy, stop } = await startServiceBehindRelay({ HSMP_LIMIT_USER_DAILY: '20' }, lines);
    try {
      const number = (await seed(cut))[1][3];
      const before = await cut.get(route(number), { accept: 'application/json' });
      expect(before.status).toBe(200);

      await proxy.cut();
      const started = Date.now();
      const during = await cut.get(route(number), { accept: 'application/json' });
      expect(during.status).toBe(503);
      expect(during.json()).toMatchObject({ code: 'HSMP-999', status: 503 });
      expect(Number(during.headers['retry-after'])).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      // An access point retrying through the outage: 30 retries against a limit of 20 neither
      // use up its quota nor blacklist it.
      const remainingBefore = before.headers['ratelimit-remaining'];
      expect(remainingBefore).toBe('19');
      expect(during.headers['ratelimit-remaining']).toBe(remainingBefore);
      for (let i = 0; i < 30; i++) {
        const retry = await cut.get(route(number), { accept: 'application/json' });
        expect({ status: retry.status, remaining: retry.headers['ratelimit-remaining'] }).toEqual({ status: 503, remaining: remainingBefore });
      }

      await proxy.restore();
      let after = await cut.get(route(number), { accept: 'application/json' });
      for (let i = 0; i < 20 && after.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        after = await cut.get(route(number), { accept: 'application/json' });
      }
      expect(after.status).toBe(200);
      expect(after.json().migrationKey).toBe(before.json().migrationKey);
      expect(after.headers['ratelimit-remaining']).toBe('18');
      // The body does not name the dependency; the log says it once per outage, the metric counts.
      expect(during.json().title).toBe('a dependency is unavailable, please retry later');
      const outageLines = lines.map((l) => JSON.parse(l)).filter((l) => l.dependency === 'database');
      expect(outageLines.map((l) => l.msg)).toEqual(['dependency unavailable: answering 503 until it is back', 'dependency available again']);
      expect(outageLines[1].answered503).toBeGreaterThanOrEqual(31);
      expect(lines.filter((l) => l.includes('"msg":"request failed"'))).toEqual([]);
      const metrics = await fetch(`${cut.adminUrl}/metrics`).then((r) => r.text());
      expect(Number(/hsmp_dependency_unavailable_total\{dependency="database"\} (\d+)/.exec(metrics)?.[1])).toBe(outageLines[1].answered503);
      expect((await cut.admin('GET', '/admin/blocks')).json().users).toEqual([]);
    } finally {
      await stop();
    }
  });
});
