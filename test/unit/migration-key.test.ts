import { generateMigrationKey, KEY_LENGTH, KEY_SPECIALS, satisfiesSmlKeyRule } from '../../src/participants/migration-key';

describe('migration keys', () => {
  it('100 000 keys all satisfy the BDMSL rule, and none repeats', () => {
    const keys = new Set<string>();
    const counts = { lower: 0, upper: 0, digit: 0, special: 0 };
    const byPosition: Array<Record<keyof typeof counts, number>> = Array.from({ length: KEY_LENGTH }, () => ({ lower: 0, upper: 0, digit: 0, special: 0 }));
    for (let i = 0; i < 100_000; i++) {
      const key = generateMigrationKey();
      expect(key).toHaveLength(KEY_LENGTH);
      if (!satisfiesSmlKeyRule(key)) throw new Error(`invalid key ${key}`);
      expect(/\s/.test(key)).toBe(false);
      keys.add(key);
      [...key].forEach((ch, position) => {
        const cls = /[a-z]/.test(ch) ? 'lower' : /[A-Z]/.test(ch) ? 'upper' : /[0-9]/.test(ch) ? 'digit' : 'special';
        counts[cls]++;
        byPosition[position][cls]++;
      });
    }
    expect(keys.size).toBe(100_000);
    // Uniform over the 80-character alphabet (a little skewed towards the rarer classes by the rule).
    const total = 100_000 * KEY_LENGTH;
    expect(counts.lower / total).toBeCloseTo(26 / 80, 1);
    expect(counts.upper / total).toBeCloseTo(26 / 80, 1);
    expect(counts.digit / total).toBeCloseTo(10 / 80, 1);
    expect(counts.special / total).toBeCloseTo(18 / 80, 1);
    // No class is pinned to a position: every position sees every class at about its share.
    for (const position of byPosition) {
      expect(position.digit / 100_000).toBeGreaterThan(0.11);
      expect(position.special / 100_000).toBeGreaterThan(0.21);
    }
  });

  it('every character of the alphabet appears', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) for (const ch of generateMigrationKey()) seen.add(ch);
    expect(seen.size).toBe(80);
    for (const ch of KEY_SPECIALS) expect(seen.has(ch)).toBe(true);
  });

  it.each([
    ['aaBB11@@', true],
    ['aBB11@@x', true],
    ['aB11@@xY', true],
    ['abBB11@@', true],
    ['aBB11@@', false], // 7 characters
    ['aaBB11@@'.padEnd(25, 'x'), false],
    ['aaBB1@@x', false], // one digit
    ['aaBB11@x', false], // one special
    ['aBBB11@@', false], // one lower
    ['aaB111@@', false], // one upper
    ['aaBB11@@ ', false], // white space
    ['aaBB11<>', false], // not BDMSL specials
  ])('rule: %s → %s', (key, expected) => {
    expect(satisfiesSmlKeyRule(key)).toBe(expected);
  });
});
