import Redis from 'ioredis';
import { request } from 'undici';
import type { ClientCase } from '../../src/dev/dev-pki';
import { datasetNumbers } from '../../src/participants/datasets';
import { hsmpAdmin } from '../support/cli';
import { clientAgent, closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { itWithServers, requireInCi, startTestService, type TestService } from '../support/service';
import { startTcpProxy } from '../support/tcp-proxy';

/** SPEC §3: daily counters, blocks that only an operator lifts, allowances, the Brussels day. */
const number = datasetNumbers(1)[1][0];
const route = `/hermes-rw/migrationKey/${number}`;
const codeOf = (body: string) => /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? (body.includes('<MigrationRecord>') ? '200' : body);

async function burst(services: TestService[], count: number, certificate: ClientCase = 'ap-production'): Promise<Record<string, number>> {
  const codes = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const service = services[i % services.length];
      const response = await request(`${service.publicUrl}${route}`, { dispatcher: clientAgent(certificate) });
      return codeOf(await response.body.text());
    }),
  );
  const tally: Record<string, number> = {};
  for (const code of codes) tally[code] = (tally[code] ?? 0) + 1;
  return tally;
}

const started: TestService[] = [];
async function service(env: Record<string, string>, options: Parameters<typeof startTestService>[0] = {}): Promise<TestService> {
  const s = await startTestService({ ...options, env: { ...options.env, ...env } });
  started.push(s);
  if (!options.sameStoreAs) await seed(s);
  return s;
}
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});
afterAll(() => closeAgents());

const backends: Array<[string, Record<string, string>]> = [['memory counters', { REDIS_URL: '' }]];
if (requireInCi('REDIS_URL')) backends.push(['Redis counters', {}]);

describe.each(backends)('%s', (_name, backendEnv) => {
  it('limit 20, 30 concurrent queries from one user → exactly 20 answered, 10 × 811, and the user is blacklisted', async () => {
    const s = await service({ ...backendEnv, HSMP_LIMIT_USER_DAILY: '20' });
    expect(await burst([s], 30)).toEqual({ '200': 20, 'HSMP-811': 10 });
    const blocks = (await s.admin('GET', '/admin/blocks')).json();
    expect(blocks.users).toEqual([expect.objectContaining({ seatId: 'PBE000001', environment: 'production' })]);
    // Another user is not affected; the blacklisted one stays refused.
    expect(await burst([s], 2, 'ap-test')).toEqual({ '200': 2 });
    const refused = await s.get(route);
    expect(codeOf(refused.body)).toBe('HSMP-811');
    expect(refused.status).toBe(403);
    expect(refused.headers['ratelimit-remaining']).toBe('0');
  });

  it('queries that end in 503 (the SML failing) are given back: 30 retries at limit 20, then a 200, no block', async () => {
    const s = await service({ ...backendEnv, HSMP_LIMIT_USER_DAILY: '20' });
    s.devSml.fault = 'internal-error';
    // An access point retrying, one request after the other.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await s.get(route)).status);
    expect(statuses).toEqual(Array(30).fill(503));
    s.devSml.fault = undefined;
    const answered = await s.get(route);
    expect(answered.status).toBe(200);
    expect(answered.headers['ratelimit-remaining']).toBe('19');
    expect((await s.admin('GET', '/admin/blocks')).json().users).toEqual([]);
    const usage = (await s.admin('GET', '/admin/usage')).json();
    expect(usage.global.count).toBe(1);
  });

  it('RateLimit headers describe the daily quota', async () => {
    const s = await service({ ...backendEnv, HSMP_LIMIT_USER_DAILY: '5' });
    const first = await s.get(route);
    const second = await s.get('/hermes-rw/migrationKey/garbage');
    expect([first.headers['ratelimit-limit'], first.headers['ratelimit-remaining']]).toEqual(['5', '4']);
    expect([second.status, second.headers['ratelimit-remaining']]).toEqual([404, '3']); // garbage counts too
    const reset = Number(first.headers['ratelimit-reset']);
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(25 * 3600);
  });

  it('the IP limit → 813 and the IP blocked; the global limit → 812 and everyone locked out; the CLI lifts each', async () => {
    const ipLimited = await service({ ...backendEnv, HSMP_LIMIT_IP_DAILY: '4' });
    expect(await burst([ipLimited], 6)).toEqual({ '200': 4, 'HSMP-813': 2 });
    expect(codeOf((await ipLimited.get(route, { certificate: 'ap-test' })).body)).toBe('HSMP-813');
    const listed = await hsmpAdmin(ipLimited, ['blacklist']);
    expect(listed.stdout).toContain('127.0.0.1');
    const lifted = await hsmpAdmin(ipLimited, ['reactivate', 'ip', '127.0.0.1', '--reason', 'test']);
    expect(lifted).toMatchObject({ code: 0, stdout: 'reactivated: 127.0.0.1\n' });
    expect((await ipLimited.get(route, { certificate: 'ap-test' })).status).toBe(200);

    const globallyLimited = await service({ ...backendEnv, HSMP_LIMIT_GLOBAL_DAILY: '3' });
    expect(await burst([globallyLimited], 2, 'ap-production')).toEqual({ '200': 2 });
    expect(await burst([globallyLimited], 2, 'ap-test')).toEqual({ '200': 1, 'HSMP-812': 1 });
    expect(codeOf((await globallyLimited.get(route)).body)).toBe('HSMP-812');
    expect((await hsmpAdmin(globallyLimited, ['reactivate', 'global'])).code).toBe(0);
    expect((await globallyLimited.get(route)).status).toBe(200);
    const audit = (await globallyLimited.admin('GET', '/admin/audit')).json();
    expect(audit.entries[0]).toMatchObject({ operator: 'tester', action: 'reactivate-global' });
  });

  it('reactivating a user through the CLI lifts the blacklist and gives a fresh count', async () => {
    const s = await service({ ...backendEnv, HSMP_LIMIT_USER_DAILY: '2' });
    expect(await burst([s], 3)).toEqual({ '200': 2, 'HSMP-811': 1 });
    const result = await hsmpAdmin(s, ['reactivate', 'user', 'PBE000001', '--environment', 'production', '--reason', 'called BOSA']);
    expect(result).toMatchObject({ code: 0, stdout: 'reactivated: production:PBE000001\n' });
    expect(await burst([s], 3)).toEqual({ '200': 2, 'HSMP-811': 1 });
    expect((await hsmpAdmin(s, ['reactivate', 'user', 'PBE999999'])).code).toBe(1);
  });

  it('an allowance raises the limit inside its window only', async () => {
    let clock = Date.parse('2027-02-10T09:00:00Z');
    const s = await service({ ...backendEnv, HSMP_LIMIT_USER_DAILY: '2', HSMP_REVOCATION: 'off' }, { now: () => new Date(clock) });
    const grant = await hsmpAdmin(s, [
      'allowance',
      'grant',
      'PBE000001',
      '--limit',
      '5',
      '--from',
      '2027-02-10T10:00:00Z',
      '--to',
      '2027-02-10T12:00:00+00:00',
      '--environment',
      'production',
    ]);
    expect(grant.code).toBe(0);
    expect(await burst([s], 2)).toEqual({ '200': 2 }); // before the window: 2 a day
    clock = Date.parse('2027-02-10T11:00:00Z'); // inside: 5 a day, the same day's count goes on
    const inside = await s.get(route);
    expect(inside.headers['ratelimit-limit']).toBe('5');
    expect(await burst([s], 3)).toEqual({ '200': 2, 'HSMP-811': 1 });
    expect((await hsmpAdmin(s, ['allowance', 'list'])).stdout).toContain('PBE000001 [production] 5/day');
  });

  it('counters roll at Brussels midnight, also on the 23-hour DST day', async () => {
    let clock = Date.parse('2027-03-27T22:59:30Z'); // 23:59:30 in Brussels (CET), the night the clocks go forward
    const s = await service({ ...backendEnv, HSMP_LIMIT_USER_DAILY: '3', HSMP_REVOCATION: 'off' }, { now: () => new Date(clock) });
    const remaining = async () => (await s.get(route)).headers['ratelimit-remaining'];
    expect([await remaining(), await remaining()]).toEqual(['2', '1']);
    clock = Date.parse('2027-03-27T23:00:00Z'); // 00:00 on 28 March in Brussels: a new day
    const fresh = await s.get(route);
    expect([fresh.headers['ratelimit-remaining'], fresh.headers['ratelimit-reset']]).toEqual(['2', String(23 * 3600)]);
    clock = Date.parse('2027-03-28T21:59:59Z'); // 23:59:59 CEST, still 28 March
    expect(await remaining()).toBe('1');
    clock = Date.parse('2027-03-28T22:00:00Z'); // 29 March
    expect(await remaining()).toBe('2');
    const usage = (await s.admin('GET', '/admin/usage?day=2027-03-28')).json();
    expect(usage.users).toEqual([{ environment: 'production', seatId: 'PBE000001', count: 2 }]);
  });
});

describe('durable blocks and many instances (Redis and PostgreSQL)', () => {
  itWithServers('REDIS_URL', 'DATABASE_URL')('30 queries split over two instances sharing Redis, limit 20 → exactly 20 answered', async () => {
    const first = await service({ HSMP_LIMIT_USER_DAILY: '20' });
    const second = await service({ HSMP_LIMIT_USER_DAILY: '20' }, { sameStoreAs: first });
    expect(await burst([first, second], 30)).toEqual({ '200': 20, 'HSMP-811': 10 });
  });

  itWithServers('REDIS_URL', 'DATABASE_URL')('a blacklist survives a restart of the service and the loss of every Redis counter', async () => {
    const first = await service({ HSMP_LIMIT_USER_DAILY: '2' });
    expect(await burst([first], 3)).toEqual({ '200': 2, 'HSMP-811': 1 });
    await first.close();
    // This deployment's keys only: a FLUSHALL would also wipe the counters of tests running beside this one.
    const redis = new Redis(process.env.REDIS_URL!);
    const keys = await redis.keys(`${first.env.HSMP_REDIS_PREFIX}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    await redis.quit();
    const restarted = await service({ HSMP_LIMIT_USER_DAILY: '2' }, { sameStoreAs: first });
    expect(codeOf((await restarted.get(route)).body)).toBe('HSMP-811');
    expect(codeOf((await restarted.get(route, { certificate: 'ap-test' })).body)).toBe('200');
  });

  itWithServers('REDIS_URL')('Redis cut off → 503 with Retry-After at once (nothing issued uncounted), then recovery', async () => {
    const url = new URL(process.env.REDIS_URL!);
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 6379) });
    try {
      const s = await service({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
      expect((await s.get(route)).status).toBe(200);
      await proxy.cut();
      const started = Date.now();
      const during = await s.get(route, { accept: 'application/json' });
      expect([during.status, during.json().code]).toEqual([503, 'HSMP-999']);
      expect(during.headers['retry-after']).toBeDefined();
      expect(Date.now() - started).toBeLessThan(5000);
      await proxy.restore();
      let after = await s.get(route);
      for (let i = 0; i < 40 && after.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        after = await s.get(route);
      }
      expect(after.status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});
