import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePorts, startServerProcess, type ServerProcess } from '../test/support/server-process';

/** Shared by the benchmarks: a real server process, its memory and CPU. */
export const ROOT = path.resolve(__dirname, '..', '..');
export { freePorts, stopChild } from '../test/support/server-process';
export { freshDatabase, withAdminClient } from '../test/support/throwaway-database';

/** Peak resident memory of a process so far (Linux VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/** Peak RSS of a process and its direct children (cluster workers), in MB. */
export function treePeakRssMb(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + peakRssMb(p), 0);
}

function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = execFileSync('ps', ['--ppid', String(pid), '-o', 'pid='], { encoding: 'utf8' })
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // ps exits 1 when the process has no children
  }
  return [pid, ...children];
}

/** CPU time (user + system, ms) used so far by the server's process tree, PostgreSQL's and Redis's processes, and this process. */
export interface CpuSnapshot {
  server: number;
  postgres: number;
  redis: number;
  driver: number;
}

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

export function cpuSnapshot(serverPid: number): CpuSnapshot {
  const server = new Set(processTree(serverPid));
  const snapshot: CpuSnapshot = { server: 0, postgres: 0, redis: 0, driver: 0 };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime + stime
    if (server.has(Number(entry))) snapshot.server += ms;
    else if (command.startsWith('postgres')) snapshot.postgres += ms;
    else if (command.startsWith('redis-server')) snapshot.redis += ms;
  }
  const own = process.cpuUsage();
  snapshot.driver = (own.user + own.system) / 1000;
  return snapshot;
}

/**
 * The variables of a benchmarked deployment on the run's servers: the dev PKI's certificates, a
 * Redis prefix of its own, limits high enough never to refuse.
 */
export function benchDeploymentEnv(pki: { serverCert: string; serverKey: string; manifest: string }, databaseUrl: string, redisUrl: string): NodeJS.ProcessEnv {
  return {
    HSMP_TLS_CERT: pki.serverCert,
    HSMP_TLS_KEY: pki.serverKey,
    HSMP_TRUSTSTORE: pki.manifest,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    HSMP_REDIS_PREFIX: `hsmp-bench-${randomBytes(4).toString('hex')}`,
    HSMP_LIMIT_USER_DAILY: '1000000000',
    HSMP_LIMIT_IP_DAILY: '1000000000',
    HSMP_LIMIT_GLOBAL_DAILY: '1000000000',
  };
}

export interface OperatedServer extends ServerProcess {
  port: number;
  /** An operator token the server accepts. */
  token: string;
}

/**
 * The real server on free loopback ports with an operator token, its own key-encryption key,
 * revocation off (no responder runs in the benchmarks) and warnings only; `env` adds the rest.
 */
export async function startOperatedServer(dataDir: string, env: NodeJS.ProcessEnv): Promise<OperatedServer> {
  const [port, adminPort] = await freePorts(2);
  const token = randomBytes(24).toString('base64url');
  const server = await startServerProcess(
    {
      HSMP_HOST: '127.0.0.1',
      HSMP_PORT: String(port),
      HSMP_ADMIN_PORT: String(adminPort),
      HSMP_DATA_DIR: dataDir,
      HSMP_REVOCATION: 'off',
      HSMP_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      HSMP_ADMIN_TOKENS: `bench:${createHash('sha256').update(token).digest('hex')}`,
      HSMP_LOG_LEVEL: 'warn',
      ...env,
    },
    adminPort,
    // Node options for the server alone, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it.
    process.env.HSMP_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
    // Another checkout's build, for before/after comparisons.
    process.env.HSMP_BENCH_SERVER_ROOT ?? ROOT,
  );
  return { ...server, port, token };
}
