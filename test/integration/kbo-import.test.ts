import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withCheckDigits } from '../../src/participants/participant-id';
import { hsmpAdmin } from '../support/cli';
import { closeAgents } from '../support/pki';
import { seed } from '../support/seed';
import { call, startTestService, type TestService } from '../support/service';

/** SPEC §5: the CBE dump, streamed through hsmp-admin, merged in one transaction. */
const HEADER = '"EnterpriseNumber","Status","JuridicalSituation","TypeOfEnterprise","JuridicalForm","JuridicalFormCAC","StartDate"';
const numbers = Array.from({ length: 200 }, (_, i) => withCheckDigits(String(2000000 + i).padStart(8, '0')));
const dotted = (n: string) => `${n.slice(0, 4)}.${n.slice(4, 7)}.${n.slice(7)}`;
const line = (n: string) => `"${dotted(n)}","AC","000","2","014","","09-08-1960"`;
const dump = (list: string[], extra = '') => [HEADER, ...list.map(line)].join('\r\n') + '\r\n' + extra;

/** Room for the dumps below (~12 kB for 200 rows), not for the oversized one. */
const MAX_BYTES = 64 * 1024;

let service: TestService;
let dir: string;
const file = (name: string, content: string | Buffer) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const collect = async (n: string) => /<Code>([^<]+)<\/Code>/.exec((await service.get(`/hermes-rw/migrationKey/${n}`)).body)?.[1] ?? '200';
const snapshot = async () =>
  (
    await service.database.pool.query(
      "SELECT coalesce(string_agg(e::text, '|' ORDER BY enterprise_number), '') AS s, (SELECT count(*) FROM audit_log) AS audits FROM enterprise e",
    )
  ).rows[0];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-kbo-'));
  service = await startTestService({ env: { HSMP_IMPORT_MAX_DEACTIVATE_SHARE: '0.1', HSMP_IMPORT_MAX_BYTES: String(MAX_BYTES) } });
});
afterAll(async () => {
  await service?.stop();
  await closeAgents();
  rmSync(dir, { recursive: true, force: true });
});

describe('import-kbo', () => {
  it('imports, then a second import of the same dump changes nothing', async () => {
    const first = await hsmpAdmin(service, ['--json', 'import-kbo', file('full.csv', dump(numbers)), '--reason', 'monthly dump']);
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary).toMatchObject({ rows: 200, listedActive: 200, added: 200, deactivated: 0, reactivated: 0 });
    expect(summary.mergeSeconds).toBeGreaterThan(0);
    expect(summary.mergeSeconds).toBeLessThan(summary.seconds);
    expect(await collect(numbers[0])).toBe('200');
    const before = await snapshot();
    // A blank line at the very end is harmless; the same dump otherwise.
    const again = await hsmpAdmin(service, ['import-kbo', file('full.csv', dump(numbers, '\r\n'))]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^imported 200 rows in [\d.]+ s \(\d+ rows\/s; merge [\d.]+ s\): added 0, reactivated 0, deactivated 0, unchanged 200\n$/);
    const after = await snapshot();
    expect(after.s).toBe(before.s);
    expect(Number(after.audits)).toBe(Number(before.audits) + 1); // the import itself is audited
  });

  it('seeded test participants are not CBE data: a real dump without them neither counts nor deactivates them', async () => {
    const fresh = await startTestService({ env: { HSMP_IMPORT_MAX_DEACTIVATE_SHARE: '0.05' } });
    try {
      const seeded = (await seed(fresh))[1][0];
      const imported = await hsmpAdmin(fresh, ['--json', 'import-kbo', file('real.csv', dump(numbers.slice(0, 50)))]);
      expect(imported.code).toBe(0);
      expect(imported.stderr).not.toMatch(/hsmp-admin:/);
      expect(JSON.parse(imported.stdout)).toMatchObject({ added: 50, deactivated: 0, unchanged: 0 });
      // A second, shorter dump: the valve counts the 50 CBE enterprises only, not the 20 seeded.
      const shorter = await hsmpAdmin(fresh, ['import-kbo', file('real-shorter.csv', dump(numbers.slice(0, 47)))]);
      expect(shorter.stderr).toMatch(/would deactivate 3 of 50 active enterprises/);
      expect(/<Code>/.test((await fresh.get(`/hermes-rw/migrationKey/${seeded}`)).body)).toBe(false);
    } finally {
      await fresh.stop();
    }
  });

  it('numbers the dump no longer lists become inactive (012) everywhere; a migration is kept, an operator removal stays', async () => {
    const [gone, migrated, removed, reappearing] = numbers.slice(0, 4);
    expect((await hsmpAdmin(service, ['mark-migrated', migrated])).code).toBe(0);
    expect((await hsmpAdmin(service, ['remove', removed])).code).toBe(0);
    const without = numbers.filter((n) => ![gone, reappearing, migrated].includes(n));
    const result = JSON.parse((await hsmpAdmin(service, ['--json', 'import-kbo', file('shorter.csv', dump(without))])).stdout);
    // Deactivation is the enterprise's (SPEC §9): the migrated one is deactivated too, and 012 answers first.
    expect(result).toMatchObject({ added: 0, deactivated: 3, reactivated: 0 });
    expect([await collect(gone), await collect(reappearing), await collect(migrated), await collect(removed)]).toEqual([
      'HSMP-012',
      'HSMP-012',
      'HSMP-012',
      'HSMP-012',
    ]);

    const back = JSON.parse((await hsmpAdmin(service, ['--json', 'import-kbo', file('back.csv', dump(numbers))])).stdout);
    expect(back).toMatchObject({ added: 0, deactivated: 0, reactivated: 3 }); // removed stays removed
    // Listed again, the migrated one is still migrated: the import never touches a migration.
    expect([await collect(gone), await collect(migrated), await collect(removed)]).toEqual(['200', 'HSMP-013', 'HSMP-012']);
    expect((await hsmpAdmin(service, ['restore', removed])).code).toBe(0);
    expect(await collect(removed)).toBe('200');
  });

  it('refuses a dump that would deactivate more than the safety share, unless forced', async () => {
    const truncated = file('truncated.csv', dump(numbers.slice(0, 150)));
    const before = await snapshot();
    const refused = await hsmpAdmin(service, ['import-kbo', truncated]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/would deactivate \d+ of \d+ active enterprises .* use --force .*nothing was changed \(HTTP 409, job \d+\)/);
    expect(await snapshot()).toEqual(before);
    const forced = JSON.parse((await hsmpAdmin(service, ['--json', 'import-kbo', truncated, '--force'])).stdout);
    expect(forced.deactivated).toBeGreaterThan(40);
    expect((await hsmpAdmin(service, ['import-kbo', file('restore.csv', dump(numbers)), '--force'])).code).toBe(0);
  });

  const good = dump(numbers.slice(0, 100));
  it.each([
    ['a wrong header', good.replace('"StartDate"', '"Start"'), 1, /header must be/],
    ['a bad number', good.replace(dotted(numbers[5]), '0200.065.76'), 7, /EnterpriseNumber "0200.065.76" is not a valid enterprise number/],
    [
      'a bad check digit',
      good.replace(dotted(numbers[9]), dotted(numbers[9]).slice(0, -1) + ((Number(numbers[9].slice(-1)) + 1) % 10)),
      11,
      /not a valid enterprise number/,
    ],
    ['a bad date', good.replace(line(numbers[20]), line(numbers[20]).replace('09-08-1960', '31-02-1960')), 22, /StartDate "31-02-1960"/],
    ['an unterminated quote', good.replace(line(numbers[30]), line(numbers[30]).replace('"014"', '"014')), 32, /expected 7 fields|line break/],
    ['a quote inside a quoted field', good.replace(line(numbers[70]), line(numbers[70]).replace('"014"', '"0"14"')), 72, /a field holds a double quote/],
    ['a quote inside another', good.replace(line(numbers[71]), line(numbers[71]).replace('"014"', '"x"y"')), 73, /a field holds a double quote/],
    ['quotes after an unquoted value', good.replace(line(numbers[72]), line(numbers[72]).replace('"014"', '014""')), 74, /a field holds a double quote/],
    ['a line break inside a field', good.replace(line(numbers[60]), line(numbers[60]).replace('"014"', '"01\r\n4"')), 62, /a field holds a line break/],
    ['an empty line', good.replace(line(numbers[40]) + '\r\n', line(numbers[40]) + '\r\n\r\n'), 43, /empty line/],
    ['a number listed twice', good + line(numbers[3]) + '\r\n', 102, new RegExp(`EnterpriseNumber "${dotted(numbers[3])}" is listed twice`)],
    ['a truncated last line', good + `"${dotted(numbers[150])}","AC","000`, 102, /expected 7 fields, found 3/],
    [
      'a line with a missing field',
      good.replace(line(numbers[50]), `"${dotted(numbers[50])}","AC","000","2","014","09-08-1960"`),
      52,
      /expected 7 fields, found 6/,
    ],
    [
      'Latin-1 bytes',
      Buffer.concat([Buffer.from(good.slice(0, 500)), Buffer.from([0xe9, 0x0d, 0x0a]), Buffer.from(good.slice(500))]),
      good.slice(0, 500).split('\n').length,
      /not UTF-8 text/,
    ],
    ['no rows', HEADER + '\r\n', 2, /no enterprise rows/],
    ['an empty file', '', 1, /empty file/],
  ])('rejects a dump with %s, naming the line, and changes nothing', async (_name, content, lineNumber, reason) => {
    const before = await snapshot();
    const response = await call(
      `${service.adminUrl}/admin/import/kbo`,
      'POST',
      { authorization: `Bearer ${service.operatorToken}`, 'content-type': 'text/csv' },
      content as string,
    );
    expect(response.status).toBe(202);
    let job = response.json();
    while (job.state === 'running') job = (await service.admin('GET', `/admin/jobs/${job.id}?wait=10&after=${job.revision}`)).json();
    expect(job.state).toBe('failed');
    const problem = job.problem;
    expect(problem.status).toBe(422);
    expect(problem.detail).toMatch(reason);
    expect(problem.detail).toMatch(/nothing was changed$/);
    if (lineNumber !== undefined) expect(problem.detail).toMatch(new RegExp(`^line ${lineNumber}: `));
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a dump larger than HSMP_IMPORT_MAX_BYTES with 413 and changes nothing', async () => {
    const before = await snapshot();
    // Valid rows all the way, so that only its size can refuse it.
    const many = Array.from({ length: 2 * Math.ceil(MAX_BYTES / line(numbers[0]).length) }, (_, i) => withCheckDigits(String(3000000 + i).padStart(8, '0')));
    const oversized = dump(many);
    expect(oversized.length).toBeGreaterThan(MAX_BYTES);
    const result = await hsmpAdmin(service, ['import-kbo', file('oversized.csv', oversized)]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').pop()).toBe(
      `hsmp-admin: the dump is larger than ${MAX_BYTES} bytes (HSMP_IMPORT_MAX_BYTES); nothing was changed (HTTP 413)`,
    );
    expect(await snapshot()).toEqual(before);
  });

  it('the CLI reports a malformed file in one line and exits 1', async () => {
    const result = await hsmpAdmin(service, ['import-kbo', file('bad.csv', good.replace('"AC"', '"active"'))]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').pop()).toMatch(
      /^hsmp-admin: line 2: Status "active" is not a status code; nothing was changed \(HTTP 422, job \d+\)$/,
    );
  });

  it('the database itself refuses an enterprise number that is not ten digits starting with 0 or 1', async () => {
    // Each refusal makes pg-pool drop its connection; on the embedded database the next query
    // must still find a way in (docs/development/design.md, Databases).
    for (const bad of ['01234567  ', '2000000000', '020006576a', ' 020006576']) {
      await expect(service.database.pool.query("INSERT INTO enterprise (enterprise_number, status) VALUES ($1, 'active')", [bad])).rejects.toThrow(
        /enterprise_number_is_ten_digits/,
      );
    }
    const result = await service.database.pool.query("INSERT INTO enterprise (enterprise_number, status) VALUES ('1999999999', 'inactive')");
    expect(result.rowCount).toBe(1);
  });
});
