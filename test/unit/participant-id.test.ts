import { hasValidCheckDigits, parseParticipantId, withCheckDigits } from '../../src/participants/participant-id';

describe('parseParticipantId', () => {
  const valid = '0200065765'; // a real CBE number: 97 - (02000657 mod 97) = 65
  const spellings = [
    '0200065765',
    '0200.065.765',
    'BE0200065765',
    'BE0200.065.765',
    'be0200065765',
    '0208:0200065765',
    '9956:0200065765',
    'iso6523-actorid-upis::0208:0200065765',
    'iso6523-actorid-upis::9956:0200065765',
    'ISO6523-ACTORID-UPIS::0208:0200065765',
    'Iso6523-Actorid-Upis::9956:0200065765',
  ];

  it.each(spellings)('accepts %s as enterprise 0200065765 (participant 0208)', (spelling) => {
    expect(parseParticipantId(spelling)).toEqual({ enterpriseNumber: valid, value: `0208:${valid}` });
  });

  it('accepts numbers starting with 1', () => {
    const number = withCheckDigits('10000000');
    expect(parseParticipantId(number)?.enterpriseNumber).toBe(number);
  });

  const garbage = [
    '',
    ' ',
    ' 0200065765',
    '0200065765 ',
    '0200065765\n',
    '\t0200065765',
    '0200065766', // wrong check digits
    '0200065764',
    '2200065765', // first digit must be 0 or 1
    '9200065765',
    '200065765', // nine digits
    '00200065765', // eleven digits
    '0200.065765',
    '0200065.765',
    '0200-065-765',
    '0200 065 765',
    'BE 0200065765',
    'BE.0200065765',
    'NL0200065765',
    'BEBE0200065765',
    '0208:0200.065.765',
    '0208:BE0200065765',
    '0208::0200065765',
    '0088:0200065765',
    '9925:0200065765',
    '0208:',
    ':0200065765',
    'iso6523-actorid-upis::0200065765',
    'iso6523-actorid-upis:0208:0200065765',
    'busdox-actorid-upis::0208:0200065765',
    'iso6523-actorid-upis::0208:0200065765::x',
    "0200065765' OR '1'='1",
    "'; DROP TABLE enterprise; --",
    '0200065765;DELETE FROM migration_key',
    '../../etc/passwd',
    '..%2F..%2Fetc%2Fpasswd',
    '0200065765/../0200065765',
    '%30200065765',
    '\u0660\u0662\u0660\u0660\u0660\u0666\u0665\u0667\u0666\u0665', // Arabic-Indic digits
    '\uFF10\uFF12\uFF10\uFF10\uFF10\uFF16\uFF15\uFF17\uFF16\uFF15', // full-width digits
    '0200065765\u200B',
    '\u00000200065765',
    '0200065765\u0000',
    'null',
    'undefined',
    'NaN',
    '0x0200065765',
    '+0200065765',
    '-0200065765',
    '2.00065765e9',
    '0'.repeat(10),
    '<Participant>0200065765</Participant>',
    '${jndi:ldap://x}',
    '0200065765'.repeat(500),
    'x'.repeat(5000),
  ];

  it(`rejects ${garbage.length} garbage strings`, () => {
    expect(garbage.length).toBeGreaterThanOrEqual(50);
    for (const input of garbage) expect({ input, parsed: parseParticipantId(input) }).toEqual({ input, parsed: null });
  });
});

describe('check digits', () => {
  it('follows 97 - (first eight digits mod 97)', () => {
    expect(hasValidCheckDigits('0200065765')).toBe(true);
    expect(hasValidCheckDigits('0000000097')).toBe(true); // 97 - 0
    expect(withCheckDigits('00000097')).toBe('0000009797'); // 97 - 97 % 97 = 97
    for (let i = 0; i < 1000; i++) {
      const body = String(Math.floor(Math.random() * 2e7)).padStart(8, '0');
      const number = withCheckDigits(body);
      expect(hasValidCheckDigits(number)).toBe(true);
      const broken = number.slice(0, 8) + String((Number(number.slice(8)) % 97) + 1).padStart(2, '0');
      expect(hasValidCheckDigits(broken)).toBe(false);
    }
  });
});
