import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { datasetNumbers } from '../src/participants/datasets';
import { devPkiPaths, generateDevPki } from '../src/dev/dev-pki';
import { benchSml, startBenchSml } from './sml';
import { benchDeploymentEnv, cpuSnapshot, freePorts, freshDatabase, ROOT, startOperatedServer, stopChild, treePeakRssMb, type CpuSnapshot } from './support';

/**
 * npm run bench: hsmp-mtci against the TLS floor, side by side in one run, same machine, same
 * server key and client certificate, same driver (undici, in this process).
 *   keep-alive: 32 connections, as many requests as they carry
 *   handshake:  32 concurrent requests, each on a new connection (full TLS handshake)
 * Needs DATABASE_URL and REDIS_URL (real servers; the benchmark makes its own database and key prefix).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 32;

interface Run {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  statuses: Record<string, number>;
  /** CPU milliseconds per answered request, per process group, over the measured window. */
  cpuMsPerRequest: CpuSnapshot & { total: number };
}

interface Target {
  origin: string;
  paths: string[];
  pid: number;
  stop(): Promise<void>;
}

async function drive(target: Target, mode: 'keep-alive' | 'handshake', tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<Run> {
  const pool = new Pool(target.origin, { connections: CONNECTIONS, connect: { ...tls, servername: 'localhost', rejectUnauthorized: true } });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let i = 0;
  const run = async (until: number, record: boolean) => {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < until) {
          const started = process.hrtime.bigint();
          try {
            const r = await pool.request({ method: 'GET', path: target.paths[i++ % target.paths.length], reset: mode === 'handshake' });
            await r.body.dump();
            if (record) {
              latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
              statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
            }
          } catch {
            errors++;
          }
        }
      }),
    );
  };
  await run(Date.now() + 2000, false); // warm-up: JIT, caches, connections
  const cpuBefore = cpuSnapshot(target.pid);
  const started = Date.now();
  await run(started + SECONDS * 1000, true);
  const elapsed = (Date.now() - started) / 1000;
  const cpuAfter = cpuSnapshot(target.pid);
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN);
  const perRequest = (kind: keyof CpuSnapshot) => round((cpuAfter[kind] - cpuBefore[kind]) / latencies.length, 3);
  const cpu = { server: perRequest('server'), postgres: perRequest('postgres'), redis: perRequest('redis'), driver: perRequest('driver') };
  const cpuMsPerRequest = { ...cpu, total: round(cpu.server + cpu.postgres + cpu.redis + cpu.driver, 3) };
  return { requestsPerSecond: Math.round(latencies.length / elapsed), p50: at(0.5), p99: at(0.99), errors, statuses, cpuMsPerRequest };
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) throw new Error('set DATABASE_URL and REDIS_URL (the benchmark measures the service with its real servers)');
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-bench-'));
  const [revocationPort] = await freePorts(1);
  await generateDevPki({ dir: path.join(work, 'pki'), revocationBaseUrl: `http://127.0.0.1:${revocationPort}` });
  const pki = devPkiPaths(path.join(work, 'pki'));
  const tls = { ca: readFileSync(pki.serverCa), cert: readFileSync(pki.clientCert('ap-production')), key: readFileSync(pki.clientKey('ap-production')) };
  const runs: Record<string, Run> = {};
  const rss: Record<string, number> = {};
  let smlLines: string[] = [];
  // The service prepares each key with a development SML in this process; after the warm-up every
  // key is prepared, so the measured windows hold no SML call (those are measured by benchSml).
  const { sml, env: smlEnv } = await startBenchSml(pki);
  try {
    for (const workers of [1, 2]) {
      const bare = await startBare(pki, workers);
      const service = await startHsmp(work, pki, databaseUrl, redisUrl, workers, revocationPort, smlEnv);
      try {
        for (const mode of ['keep-alive', 'handshake'] as const) {
          // Alternate the two, so neither always runs on a warmer machine.
          runs[`bare ${mode} ×${workers}`] = await drive(bare, mode, tls);
          runs[`hsmp ${mode} ×${workers}`] = await drive(service, mode, tls);
        }
        rss[`×${workers}`] = treePeakRssMb(service.pid);
      } finally {
        await service.stop();
        await bare.stop();
      }
    }
    smlLines = await benchSml(work, pki, databaseUrl, redisUrl);
  } finally {
    await sml.close();
    rmSync(work, { recursive: true, force: true });
  }
  report(runs, rss, smlLines);
}

async function startBare(pki: ReturnType<typeof devPkiPaths>, workers: number): Promise<Target> {
  const [port] = await freePorts(1);
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'bench', 'bare-server.js')], {
    env: { PATH: process.env.PATH, BARE_CERT: pki.serverCert, BARE_KEY: pki.serverKey, BARE_PORT: String(port), BARE_WORKERS: String(workers) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const probe = new Pool(`https://127.0.0.1:${port}`, { connect: { rejectUnauthorized: false } });
  await waitFor(async () => {
    const r = await request(`https://127.0.0.1:${port}/`, { dispatcher: probe });
    await r.body.dump();
    return r.statusCode === 200;
  });
  await probe.close();
  return {
    origin: `https://localhost:${port}`,
    paths: ['/hermes-rw/migrationKey/0200065765'],
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

async function startHsmp(
  work: string,
  pki: ReturnType<typeof devPkiPaths>,
  serverUrl: string,
  redisUrl: string,
  workers: number,
  revocationPort: number,
  smlEnv: Record<string, string>,
): Promise<Target> {
  const database = await freshDatabase(serverUrl, `hsmp_bench_${workers}`);
  const server = await startOperatedServer(path.join(work, `data-${workers}`), {
    ...benchDeploymentEnv(pki, database.url, redisUrl),
    HSMP_DEV_REVOCATION_PORT: String(revocationPort),
    HSMP_WORKERS: String(workers),
    ...smlEnv,
  });
  const token = server.token;
  const seeded = await request(`${server.adminUrl}/admin/seed`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ datasets: 10 }),
  });
  if (seeded.statusCode !== 200) throw new Error(`seed failed: ${await seeded.body.text()}`);
  await seeded.body.dump();
  const numbers = Array.from({ length: 10 }, (_, d) => datasetNumbers(d + 1)).flatMap((d) => [...d[1], ...d[5]]);
  return {
    origin: `https://localhost:${server.port}`,
    paths: numbers.map((n) => `/hermes-rw/migrationKey/${n}`),
    pid: server.child.pid!,
    stop: async () => {
      await server.stop();
      await database.drop();
    },
  };
}

function report(runs: Record<string, Run>, rss: Record<string, number>, smlLines: string[]): void {
  const run = (key: string) => runs[key];
  const lines = [
    `hsmp-mtci benchmark, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, ${SECONDS} s per run, ${CONNECTIONS} connections`,
  ];
  const columns = ['req/s', 'p50 ms', 'p99 ms', 'errors', 'cpu:server', 'postgres', 'redis', 'driver', 'total'];
  lines.push(`${'run'.padEnd(24)}${columns.map((c) => c.padStart(11)).join('')}  statuses`);
  for (const [name, x] of Object.entries(runs)) {
    const c = x.cpuMsPerRequest;
    const cells = [x.requestsPerSecond, x.p50, x.p99, x.errors, c.server, c.postgres, c.redis, c.driver, c.total];
    lines.push(`${name.padEnd(24)}${cells.map((v) => String(v).padStart(11)).join('')}  ${JSON.stringify(x.statuses)}`);
  }
  lines.push('(cpu: milliseconds of CPU per request, user + system, over the measured window, by process group)');
  const ratios: Record<string, number> = {};
  for (const workers of [1, 2]) {
    for (const mode of ['keep-alive', 'handshake']) {
      ratios[`${mode} ×${workers}`] = round(run(`hsmp ${mode} ×${workers}`).requestsPerSecond / run(`bare ${mode} ×${workers}`).requestsPerSecond);
    }
  }
  lines.push('');
  lines.push(
    `ratios hsmp/bare: ${Object.entries(ratios)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}   (targets: keep-alive >= 0.8, handshake >= 0.9)`,
  );
  lines.push(
    `hsmp p99 at 32 keep-alive connections: ${run('hsmp keep-alive ×1').p99} ms (target <= 10)   peak RSS: ×1 ${rss['×1']} MB, ×2 ${rss['×2']} MB all processes (target < 250)`,
  );
  lines.push('', ...smlLines);
  console.log(lines.join('\n'));
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    path.join(ROOT, 'bench', 'results', 'bench.json'),
    JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, runs, ratios, peakRssMb: rss, sml: smlLines }, null, 2),
  );
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('bare server did not start');
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
