import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withCheckDigits } from '../src/participants/participant-id';
import { freshDatabase, peakRssMb, ROOT, startOperatedServer, withAdminClient } from './support';

/**
 * npm run bench:import: a 2,000,000-row CBE dump imported by hsmp-mtci (the real server,
 * streamed by hsmp-admin) next to a raw `psql \copy` of the same file into a same-shaped
 * table, in one run, on the PostgreSQL of DATABASE_URL. Reports rows/s of both and their
 * ratio (target ≥ 0.5), the server's peak RSS (target < 300 MB) and a no-change re-import.
 */
const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 2_000_000);
const HEADER = '"EnterpriseNumber","Status","JuridicalSituation","TypeOfEnterprise","JuridicalForm","JuridicalFormCAC","StartDate"';

async function main(): Promise<void> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) throw new Error('set DATABASE_URL to a PostgreSQL server (the benchmark creates and drops its own database)');
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-bench-import-'));
  const dumpFile = path.join(work, 'enterprise.csv');
  const database = await freshDatabase(serverUrl, 'hsmp_bench_import');
  try {
    await writeDump(dumpFile, ROWS);
    const megabytes = statSync(dumpFile).size / 1e6;

    await withAdminClient(database.url, (c) =>
      c.query(
        'CREATE TABLE raw_enterprise (enterprise_number text, status text, juridical_situation text, type_of_enterprise text, juridical_form text, juridical_form_cac text, start_date text)',
      ),
    );
    const rawStarted = process.hrtime.bigint();
    const psql = spawnSync(
      'psql',
      [database.url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `\\copy raw_enterprise FROM '${dumpFile}' WITH (FORMAT csv, HEADER true)`],
      { encoding: 'utf8' },
    );
    if (psql.status !== 0) throw new Error(`psql \\copy failed: ${psql.stderr}`);
    const rawSeconds = Number(process.hrtime.bigint() - rawStarted) / 1e9;

    const server = await startOperatedServer(path.join(work, 'data'), { HSMP_DEV_PKI_DIR: path.join(work, 'pki'), DATABASE_URL: database.url });
    const token = server.token;
    const importOnce = () => {
      const started = process.hrtime.bigint();
      const out = execFileSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'hsmp-admin.js'), '--json', 'import-kbo', dumpFile], {
        env: { PATH: process.env.PATH, HSMP_ADMIN_URL: server.adminUrl, HSMP_ADMIN_TOKEN: token },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20,
      });
      return { summary: JSON.parse(out), wallSeconds: Number(process.hrtime.bigint() - started) / 1e9 };
    };
    let first, second, rssMb;
    try {
      first = importOnce();
      second = importOnce();
      rssMb = peakRssMb(server.child.pid!);
    } finally {
      await server.stop();
    }

    const result = {
      date: new Date().toISOString(),
      rows: ROWS,
      fileMegabytes: Math.round(megabytes),
      raw: { seconds: round(rawSeconds), rowsPerSecond: Math.round(ROWS / rawSeconds) },
      hsmp: {
        seconds: round(first.wallSeconds),
        mergeSeconds: round(first.summary.mergeSeconds),
        rowsPerSecond: Math.round(ROWS / first.wallSeconds),
        added: first.summary.added,
      },
      ratio: round(rawSeconds / first.wallSeconds),
      reimport: {
        seconds: round(second.wallSeconds),
        mergeSeconds: round(second.summary.mergeSeconds),
        changed: second.summary.added + second.summary.deactivated + second.summary.reactivated,
      },
      peakRssMb: rssMb,
      targets: { ratio: '>= 0.5', peakRssMb: '< 300' },
    };
    const table = [
      ['', 'seconds', 'rows/s', 'of which merge s'],
      ['psql \\copy (raw)', result.raw.seconds, result.raw.rowsPerSecond, ''],
      ['hsmp-admin import-kbo', result.hsmp.seconds, result.hsmp.rowsPerSecond, result.hsmp.mergeSeconds],
      ['re-import, no change', result.reimport.seconds, Math.round(ROWS / second.wallSeconds), result.reimport.mergeSeconds],
    ];
    console.log(
      `\nCBE import, ${ROWS} rows (${result.fileMegabytes} MB), PostgreSQL ${await serverVersion(database.url)}, ${new Date().toISOString().slice(0, 10)}`,
    );
    for (const row of table)
      console.log(`  ${String(row[0]).padEnd(24)} ${String(row[1]).padStart(8)} ${String(row[2]).padStart(10)} ${String(row[3]).padStart(17)}`);
    console.log(`  ratio hsmp / raw: ${result.ratio} (target >= 0.5)   peak RSS of the server: ${rssMb} MB (target < 300)`);
    console.log(`  added ${first.summary.added}; the re-import changed ${result.reimport.changed}`);
    mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench', 'results', 'import.json'), JSON.stringify(result, null, 2));
  } finally {
    await database.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function writeDump(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write(HEADER + '\r\n');
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    const n = withCheckDigits(String(2_000_000 + i * 7).padStart(8, '0'));
    chunk += `"${n.slice(0, 4)}.${n.slice(4, 7)}.${n.slice(7)}","AC","000","2","014","","09-08-1960"\r\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk))
        await new Promise<void>((r) =>
          out.once('drain', () => {
            r();
          }),
        );
      chunk = '';
    }
  }
  await new Promise<void>((resolve, reject) =>
    out
      .end(chunk, () => {
        resolve();
      })
      .once('error', reject),
  );
}

async function serverVersion(url: string): Promise<string> {
  return withAdminClient(url, async (c) => (await c.query('SHOW server_version')).rows[0].server_version);
}

const round = (n: number) => Math.round(n * 100) / 100;

main().catch((error: unknown) => {
  console.error(`bench:import: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
