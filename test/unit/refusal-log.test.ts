import type pg from 'pg';
import { createLogger } from '../../src/log';
import { RefusalLog, type Refusal } from '../../src/participants/refusal-log';

/**
 * The refusal log's backoff, bound and row-by-row fallback, without a database: the pool is a
 * recorder that answers what the test scripts (an outage, a refused row), and the backoff runs
 * on Jest's clock.
 */
interface Insert {
  at: number;
  requestIds: string[];
}

function recordingPool(answer: (requestIds: string[]) => Error | undefined) {
  const inserts: Insert[] = [];
  const pool = {
    query: ({ values }: { values: unknown[][] }) => {
      const requestIds = values[0] as string[];
      inserts.push({ at: Date.now(), requestIds });
      const error = answer(requestIds);
      return error ? Promise.reject(error) : Promise.resolve({ rows: [], rowCount: requestIds.length });
    },
  };
  return { inserts, pool: pool as unknown as pg.Pool };
}

const outage = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
const refusal = (n: number): Refusal => ({
  context: { requestId: `request-${n}`, requestedAt: new Date(0), seatId: 'PBE000001', fingerprint: 'f', clientIp: '192.0.2.1' },
  environment: 'test',
  participant: 'garbage',
  outcome: 'HSMP-001',
});

describe('refusal log', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('keeps what a database outage refused and tries again after 100 ms, doubling to 5 s, then writes it all at once', async () => {
    let down = true;
    const { inserts, pool } = recordingPool(() => (down ? outage() : undefined));
    const log = new RefusalLog(pool, { maxPending: 100, onLost: () => undefined, logger: createLogger('silent') });
    log.offer(refusal(1));
    await jest.advanceTimersByTimeAsync(0);
    log.offer(refusal(2));
    await jest.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1600 + 3200 + 5000 + 5000 - 1);
    const gaps = inserts.slice(1).map((insert, i) => insert.at - inserts[i].at);
    expect(gaps).toEqual([100, 200, 400, 800, 1600, 3200, 5000]);
    down = false;
    await jest.advanceTimersByTimeAsync(1);
    expect(inserts.at(-1)?.requestIds).toEqual(['request-1', 'request-2']);
    expect(log.size).toBe(0);

    // A success starts the backoff over.
    down = true;
    log.offer(refusal(3));
    await jest.advanceTimersByTimeAsync(100);
    expect(inserts.slice(-2).map((insert) => insert.at - inserts.at(-2)!.at)).toEqual([0, 100]);
    await log.close(0);
  });

  it('is bounded: a full queue says no, and takes rows again once the database has written them', async () => {
    let down = true;
    const { pool } = recordingPool(() => (down ? outage() : undefined));
    const log = new RefusalLog(pool, { maxPending: 3, onLost: () => undefined, logger: createLogger('silent') });
    expect([1, 2, 3, 4].map((n) => log.offer(refusal(n)))).toEqual([true, true, true, false]);
    expect(log.size).toBe(3);
    down = false;
    await jest.advanceTimersByTimeAsync(100);
    expect(log.size).toBe(0);
    expect(log.offer(refusal(5))).toBe(true);
    await log.close(0);
  });

  it('writes a batch the database refuses for its data row by row, and loses only the row refused alone', async () => {
    const bad = 'request-2';
    const { inserts, pool } = recordingPool((ids) => (ids.includes(bad) ? Object.assign(new Error('invalid byte sequence'), { code: '22021' }) : undefined));
    const lost: number[] = [];
    const log = new RefusalLog(pool, { maxPending: 100, onLost: (n) => lost.push(n), logger: createLogger('silent') });
    for (let n = 1; n <= 3; n++) log.offer(refusal(n));
    await jest.advanceTimersByTimeAsync(0);
    expect(inserts.map((i) => i.requestIds)).toEqual([['request-1'], ['request-2', 'request-3'], ['request-2'], ['request-3']]);
    expect(lost).toEqual([1]);
    await log.close(0);
  });

  it('writes in batches of at most maxBatch rows', async () => {
    const { inserts, pool } = recordingPool(() => undefined);
    const log = new RefusalLog(pool, { maxPending: 100, onLost: () => undefined, logger: createLogger('silent'), maxBatch: 2 });
    for (let n = 1; n <= 5; n++) log.offer(refusal(n));
    await jest.advanceTimersByTimeAsync(0);
    expect(inserts.map((i) => i.requestIds.length)).toEqual([1, 2, 2]);
    await log.close(0);
  });

  it('counts as lost what is still queued when it closes, and takes nothing after', async () => {
    const { pool } = recordingPool(() => outage());
    const lost: number[] = [];
    const log = new RefusalLog(pool, { maxPending: 100, onLost: (n) => lost.push(n), logger: createLogger('silent') });
    log.offer(refusal(1));
    log.offer(refusal(2));
    await jest.advanceTimersByTimeAsync(0);
    const closing = log.close(50);
    await jest.advanceTimersByTimeAsync(50);
    await closing;
    expect(lost).toEqual([2]);
    expect(log.offer(refusal(3))).toBe(false);
  });
});
