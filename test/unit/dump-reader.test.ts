import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { kboActiveNumbers, KboDumpError } from '../../src/kbo/dump-reader';

/** The CBE dump reader's checks, on strings: no database. */
const HEADER = '"EnterpriseNumber","Status","JuridicalSituation","TypeOfEnterprise","JuridicalForm","JuridicalFormCAC","StartDate"';
const row = (dotted: string, status = 'AC', situation = '"000"', date = '09-08-1960') => `"${dotted}","${status}",${situation},"2","014","","${date}"`;

async function read(text: string): Promise<{ numbers: string[]; error?: KboDumpError }> {
  const { stages } = kboActiveNumbers();
  const numbers: string[] = [];
  const sink = new Writable({
    objectMode: true,
    write(batch: string[], _encoding, callback) {
      numbers.push(...batch);
      callback();
    },
  });
  try {
    await pipeline([Readable.from([Buffer.from(text)]), ...stages, sink]);
    return { numbers };
  } catch (error) {
    if (error instanceof KboDumpError) return { numbers, error };
    throw error;
  }
}

describe('CBE dump reader', () => {
  it('emits the active numbers of a good dump', async () => {
    const { numbers, error } = await read([HEADER, row('0200.065.765'), row('0200.068.636', 'ST')].join('\r\n') + '\r\n');
    expect(error).toBeUndefined();
    expect(numbers).toEqual(['0200065765']);
  });

  it.each([
    ['a bad check digit', row('0200.065.766'), /not a valid enterprise number/],
    ['a stray quote inside a field', row('0200.065.765', 'AC', '"0"00"'), /double quote/],
    ['a stray quote after a value', row('0200.065.765', 'AC', '000""'), /double quote/],
    ['an impossible date', row('0200.065.765', 'AC', '"000"', '31-02-1960'), /StartDate/],
    ['a lower-case status', row('0200.065.765', 'ac'), /not a status code/],
  ])('refuses %s, naming line 2', async (_name, line, reason) => {
    const { error } = await read(`${HEADER}\r\n${line}\r\n`);
    expect(error?.line).toBe(2);
    expect(error?.message).toMatch(reason);
    expect(error?.status).toBe(422);
  });
});
