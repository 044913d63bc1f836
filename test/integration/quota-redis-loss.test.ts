import { randomBytes } from 'node:crypto';
import { datasetNumbers } from '../../src/participants/datasets';
import { closeAgents } from '../support/pki';
import { startOwnRedis, type OwnRedis } from '../support/redis-server';
import { seed } from '../support/seed';
import { startTestService, type TestService } from '../support/service';

/**
 * SPEC §3 across the loss of Redis: a restart without persistence (or a flush, or a failover
 * to a replica that missed writes) must not hand out a fresh daily quota. The counts are
 * rebuilt from the collection log before anything is counted again.
 */
const codeOf = (body: string) => /<Code>([^<]+)<\/Code>/.exec(body)?.[1] ?? (body.includes('<MigrationRecord>') ? '200' : body);
const numbers = datasetNumbers(1)[1];

let redis: OwnRedis;
let service: TestService;
beforeAll(async () => {
  redis = await startOwnRedis();
  service = await startTestService({
    env: { REDIS_URL: redis.url, HSMP_REDIS_PREFIX: `hsmp-test-${randomBytes(6).toString('hex')}`, HSMP_LIMIT_USER_DAILY: '20' },
  });
  await seed(service);
}, 180_000);
afterAll(async () => {
  await service?.stop();
  await redis?.stop();
  await closeAgents();
});

/** `count` answers other than 503 (a 503 while the service reconnects to Redis counts nothing). */
async function collect(count: number): Promise<string[]> {
  const codes: string[] = [];
  for (let attempts = 0; codes.length < count; attempts++) {
    if (attempts > count + 100) throw new Error(`still 503 after ${attempts} attempts: ${codes.join(', ')}`);
    const response = await service.get(`/hermes-rw/migrationKey/${numbers[codes.length % numbers.length]}`);
    if (response.status === 503) await new Promise((resolve) => setTimeout(resolve, 200));
    else codes.push(codeOf(response.body));
  }
  return codes;
}

it('limit 20: 15 used, Redis restarted without persistence, then 6 more → the 6th is 811', async () => {
  expect(await collect(15)).toEqual(Array(15).fill('200'));
  await redis.restart();
  expect(await collect(6)).toEqual([...Array(5).fill('200'), 'HSMP-811']);
  const usage = (await service.admin('GET', '/admin/usage')).json();
  expect(usage.users).toEqual(expect.arrayContaining([expect.objectContaining({ seatId: 'PBE000001', environment: 'production', count: 21 })]));
});
