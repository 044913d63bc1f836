import { SingleFlight } from '../../src/batching/single-flight';

/** A piece of work the test settles by hand, counting how often it was started. */
function controlledWork() {
  const control = {
    starts: 0,
    settle(outcome: Error | string): void {
      throw new Error(`nothing is running to settle with ${String(outcome)}`);
    },
  };
  const work = () => {
    control.starts++;
    return new Promise<string>((resolve, reject) => {
      control.settle = (outcome) => {
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
    });
  };
  return { control, work };
}

it('callers of one key while it runs share the run and its result', async () => {
  const flights = new SingleFlight();
  const { control, work } = controlledWork();
  const callers = [flights.run('a', work), flights.run('a', work), flights.run('a', work)];
  control.settle('done');
  expect(await Promise.all(callers)).toEqual(['done', 'done', 'done']);
  expect(control.starts).toBe(1);
});

it('different keys run apart', async () => {
  const flights = new SingleFlight();
  const a = controlledWork();
  const b = controlledWork();
  const runs = [flights.run('a', a.work), flights.run('b', b.work)];
  a.control.settle('a');
  b.control.settle('b');
  expect(await Promise.all(runs)).toEqual(['a', 'b']);
  expect([a.control.starts, b.control.starts]).toEqual([1, 1]);
});

it('after a run settles, success or failure, the next call runs the work again (nothing is cached)', async () => {
  const flights = new SingleFlight();
  const { control, work } = controlledWork();
  const failed = flights.run('a', work);
  const sharedFailure = flights.run('a', work);
  control.settle(new Error('down'));
  await expect(failed).rejects.toThrow('down');
  await expect(sharedFailure).rejects.toThrow('down');
  const again = flights.run('a', work);
  control.settle('up');
  expect(await again).toBe('up');
  const third = flights.run('a', work);
  control.settle('up again');
  expect(await third).toBe('up again');
  expect(control.starts).toBe(3);
});
