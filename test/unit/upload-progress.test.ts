import { uploadProgress } from '../../src/cli/commands/import-kbo';

/** What hsmp-admin import-kbo prints while a dump travels and while the server merges. */
describe('uploadProgress', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('reports rows, share and rate while sending, then that the server is merging and for how long', () => {
    const lines: string[] = [];
    const rows = 'a\n'.repeat(500);
    const size = 2 * Buffer.byteLength(rows);
    const progress = uploadProgress(size, (line) => lines.push(line));
    progress.counter.resume();

    progress.counter.write(Buffer.from(rows));
    jest.advanceTimersByTime(1000);
    expect(lines).toEqual(['import-kbo: 500 rows read (50 %), 500 rows/s\n']);

    progress.counter.write(Buffer.from(rows));
    jest.advanceTimersByTime(1000);
    expect(lines[1]).toBe('import-kbo: all 1000 rows sent in 2.0 s; the server is checking the last rows and merging\n');

    jest.advanceTimersByTime(5000);
    expect(lines.slice(2)).toEqual(['import-kbo: merging, 5 s\n']);
    progress.stop();
    jest.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(3);
  });
});
