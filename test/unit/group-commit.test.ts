import { GroupCommit } from '../../src/batching/group-commit';

/** A batch runner whose batches finish only when the test says so. */
function controlledRunner() {
  const batches: Array<{ items: number[]; finish(outputs?: string[]): void; fail(error: Error): void }> = [];
  const run = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({
        items,
        finish: (outputs) => {
          resolve(outputs ?? items.map((i) => `done ${i}`));
        },
        fail: reject,
      });
    });
  return { batches, run };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('sends an item alone when a slot is free, and gathers what arrives meanwhile into the next batch', async () => {
    const { batches, run } = controlledRunner();
    const group = new GroupCommit(run, { maxInFlight: 1, maxBatch: 100 });
    const first = group.submit(1);
    const rest = [2, 3, 4].map((i) => group.submit(i));
    expect(batches.map((b) => b.items)).toEqual([[1]]);
    batches[0].finish();
    await expect(first).resolves.toBe('done 1');
    await settle();
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3, 4]]);
    batches[1].finish();
    await expect(Promise.all(rest)).resolves.toEqual(['done 2', 'done 3', 'done 4']);
  });

  it('keeps at most maxInFlight batches of at most maxBatch items', async () => {
    const { batches, run } = controlledRunner();
    const group = new GroupCommit(run, { maxInFlight: 2, maxBatch: 2 });
    const all = Array.from({ length: 7 }, (_, i) => group.submit(i));
    expect(batches.map((b) => b.items)).toEqual([[0], [1]]);
    batches[1].finish();
    await settle();
    expect(batches.map((b) => b.items)).toEqual([[0], [1], [2, 3]]);
    batches[0].finish();
    await settle();
    expect(batches.map((b) => b.items)).toEqual([[0], [1], [2, 3], [4, 5]]);
    batches[2].finish();
    batches[3].finish();
    await settle();
    batches[4].finish();
    await expect(Promise.all(all)).resolves.toHaveLength(7);
    expect(batches.map((b) => b.items)).toEqual([[0], [1], [2, 3], [4, 5], [6]]);
  });

  it('fails every item of a failed batch with its error, and goes on with the next batch', async () => {
    const { batches, run } = controlledRunner();
    const group = new GroupCommit(run, { maxInFlight: 1, maxBatch: 10 });
    const lone = group.submit(1);
    const pair = [group.submit(2), group.submit(3)];
    batches[0].fail(new Error('database down'));
    await expect(lone).rejects.toThrow('database down');
    await settle();
    batches[1].finish();
    await expect(Promise.all(pair)).resolves.toEqual(['done 2', 'done 3']);
  });

  it('refuses a batch answer of the wrong length instead of mismatching items and answers', async () => {
    const { batches, run } = controlledRunner();
    const group = new GroupCommit(run, { maxInFlight: 1, maxBatch: 10 });
    const first = group.submit(1);
    batches[0].finish(['done 1', 'done 2']);
    await expect(first).rejects.toThrow('a batch of 1 answered 2 results');
  });

  it('rejects a setting that would never send anything', () => {
    expect(() => new GroupCommit(async () => [], { maxInFlight: 0, maxBatch: 1 })).toThrow(RangeError);
  });
});
