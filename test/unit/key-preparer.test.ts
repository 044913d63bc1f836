import type { Environment } from '../../src/domain/environment';
import type { HsmpError } from '../../src/domain/errors';
import { createLogger } from '../../src/log';
import { belgianParticipant } from '../../src/participants/participant-id';
import { KeyPreparer, SmlFault, SmlHealth } from '../../src/sml';

/**
 * PrepareToMigrate's single flight, without an SML: the client is a recorder whose answers the
 * test releases one by one, so concurrent prepares are really concurrent.
 */
interface Call {
  participant: string;
  migrationKey: string;
  answer(error?: Error): void;
}

const alice = belgianParticipant('0200065765');
const bob = belgianParticipant('0203201340');

function smlClient() {
  const calls: Call[] = [];
  const client = {
    prepareToMigrate: ({ participant, migrationKey }: { smpId: string; participant: string; migrationKey: string }) =>
      new Promise<void>((resolve, reject) => {
        const answer = (error?: Error) => {
          if (error) reject(error);
          else resolve();
        };
        calls.push({ participant, migrationKey, answer });
      }),
  };
  const preparer = new KeyPreparer(new Map<Environment, typeof client>([['test', client]]), 'SMP-1', new SmlHealth(createLogger('silent')));
  /** A prepare of `key` that the SML accepts at once; resolves when it has. */
  const accepted = async (key: string) => {
    const prepared = preparer.prepare(alice, 'test', key);
    calls[calls.length - 1].answer();
    await prepared;
  };
  /** Asserts that `send` makes one SML call, which then succeeds. */
  const sentOnce = async (send: () => Promise<void>) => {
    const before = calls.length;
    const sent = send();
    expect(calls).toHaveLength(before + 1);
    calls[before].answer();
    await sent;
  };
  return { calls, preparer, accepted, sentOnce };
}

const settled = (promise: Promise<unknown>) =>
  promise.then(
    () => 'prepared',
    (error: unknown) => (error as HsmpError).code,
  );

describe('key preparer single flight', () => {
  it('concurrent prepares of one participant and key share one SML call', async () => {
    const { calls, preparer } = smlClient();
    const waiting = Array.from({ length: 5 }, () => settled(preparer.prepare(alice, 'test', 'key-A')));
    expect(calls).toHaveLength(1);
    calls[0].answer();
    expect(await Promise.all(waiting)).toEqual(Array(5).fill('prepared'));
  });

  it('another key or another participant is its own flight', async () => {
    const { calls, preparer } = smlClient();
    const waiting = [preparer.prepare(alice, 'test', 'key-A'), preparer.prepare(alice, 'test', 'key-B'), preparer.prepare(bob, 'test', 'key-A')];
    expect(calls.map((c) => `${c.participant} ${c.migrationKey}`)).toEqual(['0208:0200065765 key-A', '0208:0200065765 key-B', '0208:0203201340 key-A']);
    for (const call of calls) call.answer();
    await Promise.all(waiting);
  });

  it('a key the SML accepted is not sent again by prepare, only by prepareAgain', async () => {
    const { calls, preparer, accepted, sentOnce } = smlClient();
    await accepted('key-A');
    await preparer.prepare(alice, 'test', 'key-A');
    expect(calls).toHaveLength(1);
    await sentOnce(() => preparer.prepareAgain(alice, 'test', 'key-A'));
  });

  it('a failed flight fails every waiter alike and is not remembered: the next prepare calls the SML again', async () => {
    const { calls, preparer } = smlClient();
    const waiting = [settled(preparer.prepare(alice, 'test', 'key-A')), settled(preparer.prepare(alice, 'test', 'key-A'))];
    calls[0].answer(new Error('connection reset'));
    expect(await Promise.all(waiting)).toEqual(['HSMP-999', 'HSMP-999']);
    const notOurs = settled(preparer.prepare(alice, 'test', 'key-A'));
    expect(calls).toHaveLength(2);
    calls[1].answer(new SmlFault('PrepareToMigrate', 'NotFound', 'participant not found', 110));
    expect(await notOurs).toBe('HSMP-013');
  });

  it('remembers the last 10 000 accepted keys: the oldest beyond them is sent again', async () => {
    const { calls, preparer, accepted, sentOnce } = smlClient();
    for (let i = 0; i <= 10_000; i++) await accepted(`key-${i}`);
    await preparer.prepare(alice, 'test', 'key-10000');
    expect(calls).toHaveLength(10_001);
    await sentOnce(() => preparer.prepare(alice, 'test', 'key-0'));
  });
});
