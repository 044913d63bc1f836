import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { datasetNumbers } from '../src/participants/datasets';
import { devPkiPaths, generateDevPki, type DevPkiIndex, type DevPkiPaths } from '../src/dev/dev-pki';
import type { DevSml } from '../src/dev/dev-sml';
import { startDevSmlForDevPki } from '../src/dev/dev-sml-wiring';
import { benchDeploymentEnv, freshDatabase, ROOT, startOperatedServer } from './support';

/**
 * The SML part of `npm run bench` (SPEC §9), side by side in one run against the development
 * SML answering at once and 50 ms late:
 *   - a first collection (PrepareToMigrate before the answer) against a repeated one (no SML);
 *   - `hsmp-admin sml prepare` throughput (keys the SML accepted per second).
 * One client, one kept-alive connection, requests one after another: latency, not load.
 */
const FIRST_COLLECTIONS = 200;
const DATASETS = 100; // 2 000 active enterprises: 200 + 200 first collections, the rest for `sml prepare`

export interface DevSmlHandle {
  sml: DevSml;
  env: Record<string, string>;
}

/** A development SML in this process, and the variables that point hsmp's test environment at it. */
export async function startBenchSml(pki: DevPkiPaths): Promise<DevSmlHandle> {
  const index = JSON.parse(readFileSync(pki.index, 'utf8')) as DevPkiIndex;
  const sml = await startDevSmlForDevPki({ pkiDir: pki.dir, index, smpId: 'HERMES-SMP', port: 0 });
  return {
    sml,
    env: {
      HSMP_SML_URL_TEST: sml.endpoint('test'),
      HSMP_SML_CERT_TEST: pki.clientCert('smp-test'),
      HSMP_SML_KEY_TEST: pki.clientKey('smp-test'),
      HSMP_SML_URL_PRODUCTION: sml.endpoint('production'),
      HSMP_SML_CERT_PRODUCTION: pki.clientCert('smp-production'),
      HSMP_SML_KEY_PRODUCTION: pki.clientKey('smp-production'),
      HSMP_SML_CA: pki.serverCa,
    },
  };
}

export async function benchSml(work: string, pki: DevPkiPaths, databaseUrl: string, redisUrl: string): Promise<string[]> {
  const { sml, env } = await startBenchSml(pki);
  const database = await freshDatabase(databaseUrl, 'hsmp_bench_sml');
  const server = await startOperatedServer(path.join(work, 'data-sml'), {
    ...benchDeploymentEnv(pki, database.url, redisUrl),
    HSMP_SML_RECONCILE_INTERVAL: '0',
    HSMP_ENVIRONMENTS: 'test,production',
    ...env,
  });
  const client = new Pool(`https://localhost:${server.port}`, {
    connections: 1,
    connect: {
      ca: readFileSync(pki.serverCa),
      cert: readFileSync(pki.clientCert('ap-production')),
      key: readFileSync(pki.clientKey('ap-production')),
      servername: 'localhost',
    },
  });
  const lines: string[] = [];
  try {
    const seeded = await request(`${server.adminUrl}/admin/seed`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ datasets: DATASETS }),
    });
    if (seeded.statusCode !== 200) throw new Error(`seed failed: ${await seeded.body.text()}`);
    await seeded.body.dump();
    const active = Array.from({ length: DATASETS }, (_, d) => datasetNumbers(d + 1)).flatMap((d) => [...d[1], ...d[5]]);
    const collect = async (number: string): Promise<number> => {
      const started = process.hrtime.bigint();
      const r = await client.request({ method: 'GET', path: `/hermes-rw/migrationKey/${number}` });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`collection of ${number}: HTTP ${r.statusCode}`);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const series = async (numbers: string[]) => {
      const times: number[] = [];
      for (const n of numbers) times.push(await collect(n));
      return summarize(times);
    };
    await collect(active[active.length - 1]); // warm-up: connections to hsmp, the database and the SML

    lines.push(`SML (development SML over mutual TLS, one client, sequential requests, ${FIRST_COLLECTIONS} each)`);
    lines.push(`${'run'.padEnd(44)}${['p50 ms', 'p99 ms', 'mean ms'].map((c) => c.padStart(9)).join('')}`);
    const row = (name: string, s: Summary) => lines.push(`${name.padEnd(44)}${[s.p50, s.p99, s.mean].map((v) => String(v).padStart(9)).join('')}`);
    for (const [i, delayMs] of [0, 50].entries()) {
      sml.delayMs = delayMs;
      const batch = active.slice(i * FIRST_COLLECTIONS, (i + 1) * FIRST_COLLECTIONS);
      const first = await series(batch);
      const repeated = await series(batch);
      row(`first collection, SML answers in ${delayMs} ms`, first);
      row(`repeated collection (prepared, no SML call)`, repeated);
    }

    // Test at 0 ms, then production at 50 ms: every key of the second run is new to the service.
    for (const [environment, delayMs, expected] of [
      ['test', 0, active.length - 2 * FIRST_COLLECTIONS - 1],
      ['production', 50, active.length],
    ] as const) {
      sml.delayMs = delayMs;
      const started = Date.now();
      const output = await runCli(server.adminUrl, server.token, ['sml', 'prepare', '--environment', environment, '--rate', '100000']);
      const seconds = (Date.now() - started) / 1000;
      const prepared = Number(/prepared (\d+) keys/.exec(output)?.[1] ?? NaN);
      lines.push(
        `hsmp-admin sml prepare (${environment}), SML answers in ${delayMs} ms: ${prepared} keys in ${seconds.toFixed(1)} s = ${Math.round(prepared / seconds)} keys/s (expected ${expected})`,
      );
    }
  } finally {
    await client.close();
    await server.stop();
    await sml.close();
    await database.drop();
  }
  return lines;
}

interface Summary {
  p50: number;
  p99: number;
  mean: number;
}

function summarize(times: number[]): Summary {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  return { p50: at(0.5), p99: at(0.99), mean: round(times.reduce((a, b) => a + b, 0) / times.length) };
}

const round = (n: number) => Math.round(n * 100) / 100;

function runCli(adminUrl: string, token: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'dist', 'src', 'cli', 'hsmp-admin.js'), ...args],
      { env: { PATH: process.env.PATH, HSMP_ADMIN_URL: adminUrl, HSMP_ADMIN_TOKEN: token }, timeout: 600_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`hsmp-admin ${args.join(' ')}: ${stderr || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

/** `npm run bench:sml`: this part alone, with a development PKI of its own. */
async function main(): Promise<void> {
  const { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl } = process.env;
  if (!databaseUrl || !redisUrl) throw new Error('set DATABASE_URL and REDIS_URL');
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-bench-sml-'));
  try {
    await generateDevPki({ dir: path.join(work, 'pki'), revocationBaseUrl: 'http://127.0.0.1:9' });
    console.log((await benchSml(work, devPkiPaths(path.join(work, 'pki')), databaseUrl, redisUrl)).join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(`bench:sml: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
