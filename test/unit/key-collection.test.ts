import { KeyCollection, type CollectionParts, type CollectionRequest } from '../../src/collection/key-collection';
import { HsmpError, type HsmpCode } from '../../src/domain/errors';
import type { AccessPoint } from '../../src/domain/access-point';

/** The order of SPEC §2 with every part faked: the first failing check must answer. */
const accessPoint: AccessPoint = { seatId: 'PBE000001', fingerprint: 'f', environment: 'production' };
const quota = { limit: 10, remaining: 9, resetSeconds: 100 };
const caller = { requestId: '00000000-0000-4000-8000-000000000001', address: '192.0.2.1', certificate: { kind: 'none' } } as const;
/** The injected clock's time: a request's row is named by it, never by the system clock. */
const ARRIVAL = new Date('2027-03-27T22:30:00Z');

interface Steps {
  authenticate: CollectionParts['authenticator']['authenticate'];
  admit: CollectionParts['quota']['admit'];
  lookup: CollectionParts['issuer']['issue'];
  recordRefusal: CollectionParts['refusals']['offer'];
}

function steps(overrides: Partial<Steps> = {}): CollectionParts & { calls: string[]; refusals: CollectionParts['refusals'] & { codes: string[] } } {
  const calls: string[] = [];
  const codes: string[] = [];
  const faked: Steps = {
    authenticate: async () => {
      calls.push('authenticate');
      return accessPoint;
    },
    admit: async () => {
      calls.push('admit');
      return { quota };
    },
    lookup: async (participant, environment) => {
      calls.push('lookup');
      return { participant, environment, migrationKey: 'aaBB11@@' };
    },
    recordRefusal: (refusal) => {
      codes.push(refusal.outcome);
      return true;
    },
    ...overrides,
  };
  return {
    calls,
    servedEnvironments: ['test'],
    now: () => ARRIVAL,
    authenticator: { authenticate: faked.authenticate },
    quota: { admit: faked.admit },
    issuer: { issue: faked.lookup },
    refusals: { offer: faked.recordRefusal, codes },
  };
}

function collectMigrationKey(request: Omit<CollectionRequest, 'caller'>, parts: CollectionParts) {
  return new KeyCollection(parts).collect({ caller, ...request });
}

const codeOf = (error: unknown) => (error as HsmpError).code;
const fail = (code: HsmpCode) => async () => {
  throw new HsmpError(code);
};

describe('collection check order', () => {
  it('answers a certificate failure before anything is counted, even for garbage ids and bad environments', async () => {
    const s = steps({ authenticate: fail('HSMP-805') });
    const outcome = await collectMigrationKey({ rawParticipantId: 'garbage', requestedEnvironment: 'nowhere' }, s);
    expect(codeOf(outcome.error)).toBe('HSMP-805');
    expect(s.calls).toEqual([]);
    expect(outcome.quota).toBeUndefined();
  });

  it('answers a block (811) before 010 and 001, and records it', async () => {
    const s = steps({ admit: async () => ({ quota, refusal: new HsmpError('HSMP-811') }) });
    const outcome = await collectMigrationKey({ rawParticipantId: 'garbage', requestedEnvironment: 'nowhere' }, s);
    expect(codeOf(outcome.error)).toBe('HSMP-811');
    expect(outcome.quota).toEqual(quota);
    expect(s.refusals.codes).toEqual(['HSMP-811']);
  });

  it('counts the query, then answers 010 before 001', async () => {
    const s = steps();
    const outcome = await collectMigrationKey({ rawParticipantId: 'garbage', requestedEnvironment: 'production' }, s);
    expect(codeOf(outcome.error)).toBe('HSMP-010');
    expect(s.calls).toEqual(['authenticate', 'admit']);
    expect(s.refusals.codes).toEqual(['HSMP-010']);
  });

  it('counts garbage too, then answers 001 with the id as asked', async () => {
    const s = steps();
    const outcome = await collectMigrationKey({ rawParticipantId: '12345', requestedEnvironment: 'TEST' }, s);
    expect(codeOf(outcome.error)).toBe('HSMP-001');
    expect((outcome.error as HsmpError).participantId).toBe('12345');
    expect(s.calls).toEqual(['authenticate', 'admit']);
  });

  it('looks up a valid participant in the requested environment', async () => {
    const s = steps();
    const outcome = await collectMigrationKey({ rawParticipantId: 'BE0200.065.765', requestedEnvironment: 'test' }, s);
    expect(outcome.error).toBeUndefined();
    expect(outcome.record?.participant.value).toBe('0208:0200065765');
    expect(s.calls).toEqual(['authenticate', 'admit', 'lookup']);
    expect(s.refusals.codes).toEqual([]);
  });

  it('passes a dependency failure through without a record', async () => {
    const s = steps({ admit: fail('HSMP-999') });
    const outcome = await collectMigrationKey({ rawParticipantId: '0200065765', requestedEnvironment: 'test' }, s);
    expect(codeOf(outcome.error)).toBe('HSMP-999');
    expect(outcome.record).toBeUndefined();
  });

  it.each([
    ['a 503 from the lookup', () => new HsmpError('HSMP-999', { status: 503 }), true],
    ['an unexpected error (500)', () => new Error('boom'), true],
    ['a 404 answer (013)', () => new HsmpError('HSMP-013'), false],
  ])('%s: the counted query is given back only for a 5xx', async (_name, error, givenBack) => {
    const released: string[] = [];
    const s = steps({
      admit: async () => ({ quota, release: async () => void released.push('released') }),
      lookup: async () => {
        throw error();
      },
    });
    const outcome = await collectMigrationKey({ rawParticipantId: '0200065765', requestedEnvironment: 'test' }, s);
    expect(released).toEqual(givenBack ? ['released'] : []);
    expect(outcome.quota?.remaining).toBe(givenBack ? quota.remaining + 1 : quota.remaining);
  });

  it('a refusal the collection log cannot take is answered 503, and the counted query is given back', async () => {
    const released: string[] = [];
    const s = steps({ admit: async () => ({ quota, release: async () => void released.push('released') }), recordRefusal: () => false });
    const outcome = await collectMigrationKey({ rawParticipantId: 'garbage', requestedEnvironment: 'test' }, s);
    expect(outcome.error).toBeInstanceOf(HsmpError);
    expect((outcome.error as HsmpError).status).toBe(503);
    expect(released).toEqual(['released']);
    expect(outcome.quota?.remaining).toBe(quota.remaining + 1);
  });

  it('uses the caller as worked out by the listener: its certificate to authenticate, its address to count and to log', async () => {
    const seen: unknown[] = [];
    const s = steps({
      authenticate: async (certificate) => {
        seen.push(certificate);
        return accessPoint;
      },
      admit: async (_ap, address) => {
        seen.push(address);
        return { quota };
      },
      recordRefusal: (refusal) => {
        seen.push(refusal.context.clientIp, refusal.context.requestId, refusal.context.seatId);
        return true;
      },
    });
    await collectMigrationKey({ rawParticipantId: 'garbage', requestedEnvironment: 'test' }, s);
    expect(seen).toEqual([caller.certificate, caller.address, caller.address, caller.requestId, accessPoint.seatId]);
  });

  it("names a request's refusal and its collection by the service's clock, not the system's", async () => {
    const times: Date[] = [];
    const s = steps({
      recordRefusal: (refusal) => {
        times.push(refusal.context.requestedAt);
        return true;
      },
      lookup: async (participant, environment, context) => {
        times.push(context.requestedAt);
        return { participant, environment, migrationKey: 'aaBB11@@' };
      },
    });
    await collectMigrationKey({ rawParticipantId: 'garbage', requestedEnvironment: 'test' }, s);
    await collectMigrationKey({ rawParticipantId: '0208:0123456749', requestedEnvironment: 'test' }, s);
    expect(times).toEqual([ARRIVAL, ARRIVAL]);
  });
});
