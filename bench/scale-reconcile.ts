import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { devPkiPaths, generateDevPki, type DevPkiIndex } from '../src/dev/dev-pki';
import { startDevSmlForDevPki } from '../src/dev/dev-sml-wiring';
import { benchDeploymentEnv, cpuSnapshot, freePorts, freshDatabase, peakRssMb, startOperatedServer, withAdminClient } from './support';

/**
 * A reconciliation at Belgium's size (SPEC §9, issue 19): the development SML lists a million
 * participants under hsmp's SMP id, 50 a page as BDMSL does (20 000 pages); hsmp holds those
 * enterprises with a prepared key, and 0.1 % more that were migrated away meanwhile. The
 * reconciliation runs as a job on the real server (a child process, so its CPU is its own),
 * started and followed through the admin API as hsmp-admin does.
 *
 * `bench:scale` puts the result under `reconcile.*`; run alone:
 *   DATABASE_URL=postgresql://… node dist/bench/scale-reconcile.js [participants]
 */
export interface ReconcileAtScale {
  participants: number;
  pages: number;
  seconds: number;
  /** CPU (user + system) of the service's process during the run, per List page. */
  service_cpu_ms_per_page: number;
  completed: boolean;
  /** Of the service's process, over its life (Linux VmHWM). */
  service_peak_rss_mb: number;
  /** Keys the run marked migrated (the participants moved away). */
  marked: number;
}

export interface ReconcileAtScaleOptions {
  /** A PostgreSQL server; a database of its own is created there and dropped after. */
  databaseUrl: string;
  redisUrl?: string;
  participants?: number;
  /** Share of the participants that left the SML listing before the run. */
  migratedShare?: number;
  log?: (line: string) => void;
}

/** What the bench reads of a reconciliation job. */
interface JobAnswer {
  id: string;
  state: string;
  revision: number;
  progress: { pages?: number };
  result?: { reconciliations: Array<{ pages: number; listed: number; marked: number }> } | null;
  problem?: { detail: string } | null;
}

const SMP_ID = 'HERMES-SMP';
const FIRST_BODY = 10_000_000;

export async function measureReconcileAtScale(options: ReconcileAtScaleOptions): Promise<ReconcileAtScale> {
  // `participants` stay listed; `migrated` more were moved away and must be noticed.
  const participants = options.participants ?? 1_000_000;
  const migrated = Math.round(participants * (options.migratedShare ?? 0.001));
  const held = participants + migrated;
  const log = options.log ?? (() => undefined);
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-bench-reconcile-'));
  const [revocationPort] = await freePorts(1);
  await generateDevPki({ dir: path.join(work, 'pki'), revocationBaseUrl: `http://127.0.0.1:${revocationPort}` });
  const pki = devPkiPaths(path.join(work, 'pki'));
  const index = JSON.parse(readFileSync(pki.index, 'utf8')) as DevPkiIndex;

  // The development SML's journal, written directly: every participant listed under hsmp's SMP
  // but the first `migrated`, which belong to the new SMP.
  const journal = path.join(work, 'dev-sml.journal');
  const lines: string[] = [];
  for (let i = 0; i < held; i++) lines.push(`O\ttest\t${withCheckDigits(FIRST_BODY + i)}\t${i < migrated ? 'NEW-SMP' : SMP_ID}\n`);
  writeFileSync(journal, lines.join(''));
  lines.length = 0;
  const loading = Date.now();
  const sml = await startDevSmlForDevPki({ pkiDir: pki.dir, index, smpId: SMP_ID, port: 0, statePath: journal });
  log(`development SML holds ${held} participants, ${participants} of them hsmp's (journal replayed in ${((Date.now() - loading) / 1000).toFixed(1)} s)`);

  const database = await freshDatabase(options.databaseUrl, 'hsmp_bench_reconcile');
  let server: Awaited<ReturnType<typeof startOperatedServer>> | undefined;
  try {
    server = await startOperatedServer(path.join(work, 'data'), {
      ...benchDeploymentEnv(pki, database.url, options.redisUrl ?? ''),
      HSMP_ENVIRONMENTS: 'test',
      HSMP_SML_RECONCILE_INTERVAL: '0',
      HSMP_SML_URL_TEST: sml.endpoint('test'),
      HSMP_SML_CERT_TEST: pki.clientCert('smp-test'),
      HSMP_SML_KEY_TEST: pki.clientKey('smp-test'),
      HSMP_SML_CA: pki.serverCa,
    });
    const filling = Date.now();
    await withAdminClient(database.url, async (client) => {
      // The same numbers as the journal's, check digits computed in SQL; key bytes are
      // placeholders: a reconciliation never reads a key.
      await client.query(
        `INSERT INTO enterprise (enterprise_number, status)
         SELECT lpad(b::text, 8, '0') || lpad((97 - b % 97)::text, 2, '0'), 'active' FROM generate_series($1::int, $2::int) b`,
        [FIRST_BODY, FIRST_BODY + held - 1],
      );
      await client.query(
        `INSERT INTO migration_key (enterprise_number, environment, key_ciphertext, key_digest, prepared_at)
         SELECT enterprise_number, 'test', decode(md5(enterprise_number), 'hex'), decode(md5('d' || enterprise_number), 'hex'), now() - interval '1 day'
           FROM enterprise`,
      );
      await client.query('ANALYZE enterprise');
      await client.query('ANALYZE migration_key');
    });
    log(`hsmp holds ${held} enterprises with a prepared key (filled in ${((Date.now() - filling) / 1000).toFixed(1)} s)`);

    const admin = async (method: 'GET' | 'POST', route: string, body?: unknown) => {
      const response = await request(`${server!.adminUrl}${route}`, {
        method,
        headers: { authorization: `Bearer ${server!.token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 60_000,
      });
      return (await response.body.json()) as JobAnswer;
    };
    const before = cpuSnapshot(server.child.pid!).server;
    const started = process.hrtime.bigint();
    let job = await admin('POST', '/admin/sml/reconcile', { environment: 'test', reason: 'bench: reconciliation at scale' });
    let lastLog = Date.now();
    while (job.state === 'running') {
      job = await admin('GET', `/admin/jobs/${job.id}?wait=20&after=${job.revision}`);
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        log(`  ${job.progress.pages ?? 0} pages listed`);
      }
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuMs = cpuSnapshot(server.child.pid!).server - before;
    const summary = job.result?.reconciliations?.[0];
    if (job.state !== 'succeeded') log(`reconciliation ${job.state}: ${job.problem?.detail ?? 'unknown'}`);
    const pages = summary?.pages ?? job.progress.pages ?? 0;
    return {
      participants: summary?.listed ?? 0,
      pages,
      seconds: Math.round(seconds * 10) / 10,
      service_cpu_ms_per_page: Math.round((100 * cpuMs) / Math.max(pages, 1)) / 100,
      completed: job.state === 'succeeded',
      service_peak_rss_mb: peakRssMb(server.child.pid!),
      marked: summary?.marked ?? 0,
    };
  } finally {
    await server?.stop();
    await sml.close();
    await database.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

function withCheckDigits(body: number): string {
  return `${String(body).padStart(8, '0')}${String(97 - (body % 97)).padStart(2, '0')}`;
}

if (require.main === module) {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    process.stderr.write('DATABASE_URL must name a PostgreSQL server\n');
    process.exit(1);
  }
  measureReconcileAtScale({
    databaseUrl,
    redisUrl: process.env.REDIS_URL,
    participants: process.argv[2] ? Number(process.argv[2]) : undefined,
    log: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
