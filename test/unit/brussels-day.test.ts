import { brusselsDay, brusselsMidnight, secondsUntilBrusselsMidnight } from '../../src/domain/brussels-day';

describe('Brussels calendar day', () => {
  it('rolls at Brussels midnight, not UTC midnight', () => {
    expect(brusselsDay(new Date('2026-11-22T22:59:59Z'))).toBe('2026-11-22');
    expect(brusselsDay(new Date('2026-11-22T23:00:00Z'))).toBe('2026-11-23'); // CET, UTC+1
    expect(brusselsDay(new Date('2026-07-01T21:59:59Z'))).toBe('2026-07-01');
    expect(brusselsDay(new Date('2026-07-01T22:00:00Z'))).toBe('2026-07-02'); // CEST, UTC+2
  });

  it('has 23-hour and 25-hour days at the DST changes', () => {
    expect(brusselsMidnight('2026-03-29').toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(brusselsMidnight('2026-03-30').toISOString()).toBe('2026-03-29T22:00:00.000Z');
    expect(secondsUntilBrusselsMidnight(new Date('2026-03-28T23:00:00Z'))).toBe(23 * 3600);
    expect(secondsUntilBrusselsMidnight(new Date('2026-10-24T22:00:00Z'))).toBe(25 * 3600);
    expect(brusselsDay(new Date('2026-10-25T22:59:59Z'))).toBe('2026-10-25');
    expect(brusselsDay(new Date('2026-10-25T23:00:00Z'))).toBe('2026-10-26');
  });

  it('never answers a reset of 0 seconds', () => {
    expect(secondsUntilBrusselsMidnight(new Date('2026-11-22T22:59:59.999Z'))).toBe(1);
  });
});

describe('Brussels calendar day, asked out of order', () => {
  it('answers each instant for itself when calls jump between days, before and after midnight', () => {
    const instants: Array<[string, string, number]> = [
      ['2026-11-22T22:59:59.999Z', '2026-11-22', 1],
      ['2026-11-22T23:00:00.000Z', '2026-11-23', 24 * 3600],
      ['2026-03-28T23:00:00.000Z', '2026-03-29', 23 * 3600],
      ['2026-11-22T22:59:59.000Z', '2026-11-22', 1],
      ['2026-10-24T22:00:00.000Z', '2026-10-25', 25 * 3600],
      ['2026-11-22T23:00:00.000Z', '2026-11-23', 24 * 3600],
    ];
    for (const [instant, day, seconds] of [...instants, ...instants.reverse()]) {
      expect([brusselsDay(new Date(instant)), secondsUntilBrusselsMidnight(new Date(instant))]).toEqual([day, seconds]);
    }
  });
});
