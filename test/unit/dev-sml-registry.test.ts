import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DevSmlRegistry, SortedParticipants } from '../../src/dev/dev-sml-registry';

/** The development SML's registry: paging a large registry, and its journal across a restart. */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-dev-sml-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});
const participant = (n: number) => `0208:${String(n).padStart(10, '0')}`;

describe('sorted participants', () => {
  it('keeps order through additions and removals in any order', () => {
    const set = new SortedParticipants();
    const ids = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 100_003);
    for (const id of ids) set.add(id);
    for (const id of ids.slice(0, 1000)) set.remove(id);
    set.add(ids[0]);
    set.add(ids[2000]);
    const expected = [...new Set([ids[0], ...ids.slice(1000)])].sort((a, b) => a - b);
    expect(set.size).toBe(expected.length);
    expect(set.slice(0, expected.length)).toEqual(expected);
    expect(set.slice(expected.length - 3, 50)).toEqual(expected.slice(-3));
  });
});

describe('the registry', () => {
  it('pages the home SMP 50 at a time, by page number, and a migrated participant moves to its new SMP', () => {
    const registry = new DevSmlRegistry('HOME');
    for (let i = 120; i > 0; i--) registry.prepare('test', participant(i), `key-${i}`);
    expect(registry.page('test', 'HOME', 0, 50)).toEqual({ participants: Array.from({ length: 50 }, (_, i) => participant(i + 1)), next: 1 });
    expect(registry.page('test', 'HOME', 2, 50)).toEqual({ participants: Array.from({ length: 20 }, (_, i) => participant(i + 101)) });
    registry.assign('test', participant(7), 'NEW');
    expect(registry.ownerOf('test', participant(7))).toBe('NEW');
    expect(registry.preparedKey('test', participant(7))).toBeUndefined();
    expect(registry.page('test', 'HOME', 0, 50).participants).not.toContain(participant(7));
    expect(registry.page('test', 'NEW', 0, 50)).toEqual({ participants: [participant(7)] });
    expect(registry.page('production', 'HOME', 0, 50)).toEqual({ participants: [] });
  });

  it('survives a restart through its journal, one line per change, compacted at start when it grew', () => {
    const journal = path.join(dir, 'dev-sml.journal');
    const first = new DevSmlRegistry('HOME', journal);
    for (let i = 1; i <= 100; i++) first.prepare('test', participant(i), `key-${i}`);
    for (let i = 1; i <= 2000; i++) first.prepare('production', participant(5), `again-${i}`);
    first.assign('test', participant(3), 'NEW');
    first.assign('test', participant(200), 'HOME');
    first.close();
    expect(readFileSync(journal, 'utf8').split('\n').length - 1).toBe(2102);

    const second = new DevSmlRegistry('HOME', journal);
    expect(second.preparedKey('test', participant(1))).toBe('key-1');
    expect(second.preparedKey('production', participant(5))).toBe('again-2000');
    expect(second.ownerOf('test', participant(3))).toBe('NEW');
    expect(second.page('test', 'HOME', 1, 50).participants).toHaveLength(50);
    expect(second.page('test', 'HOME', 1, 50).participants.at(-1)).toBe(participant(200));
    second.close();
    // 2102 lines for 102 live records: rewritten as the state at start, and read back the same.
    expect(readFileSync(journal, 'utf8').split('\n').length - 1).toBe(102);
    const third = new DevSmlRegistry('HOME', journal);
    expect(third.page('test', 'HOME', 1, 50)).toEqual(second.page('test', 'HOME', 1, 50));
    expect(third.ownerOf('test', participant(3))).toBe('NEW');
    third.close();
  });
});
