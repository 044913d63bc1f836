import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import newman from 'newman';
import { request } from 'undici';
import { freePorts, freshDatabase } from '../../bench/support';
import { devPkiPaths, type ClientCase } from '../../src/dev/dev-pki';

/**
 * The last step of `npm test`: the Postman collection, run by newman against a freshly started
 * server (`node dist/src/main.js`, the dev PKI made on the fly, the run's database and Redis)
 * over real mutual TLS. Postman binds client certificates by host, so each folder is a newman
 * run of its own with the certificate it names; the environment (keys seen so far) carries
 * over between runs as it would in one Postman session. Any failed assertion fails the command.
 */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const COLLECTION = path.join(ROOT, 'postman', 'hsmp-mtci.postman_collection.json');
const ENVIRONMENT = path.join(ROOT, 'postman', 'local.postman_environment.json');

const FOLDERS: Array<[string, ClientCase | 'none']> = [
  ['1 Positive (production AP certificate)', 'ap-production'],
  ['2 Participant errors (production AP certificate)', 'ap-production'],
  ['3.1 Security: no certificate', 'none'],
  ['3.2 Security: expired certificate', 'expired'],
  ['3.3 Security: not yet valid certificate', 'not-yet-valid'],
  ['3.4 Security: untrusted certificate', 'untrusted'],
  ['3.5 Security: test AP asking for production', 'ap-test'],
  ['3.6 Security: revoked certificate', 'revoked'],
  ['3.7 Security: SMP certificate', 'smp-production'],
  ['3.8 Security: test AP certificate', 'ap-test'],
  ['5.1 SML: collect a key (production AP certificate)', 'ap-production'],
  ['5.2 SML: the new SMP completes the migration (smp-new certificate)', 'smp-new'],
  ['5.3 SML: reconcile, then the participant is migrated (production AP certificate)', 'ap-production'],
];
const BLACKLISTING = '4 Blacklisting (run against a deployment with a daily limit of 3)';

interface Server {
  child: ChildProcess;
  publicPort: number;
  adminPort: number;
  devSmlPort: number;
  pkiDir: string;
  token: string;
  output: string[];
  cleanup(): Promise<void>;
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-newman-'));
  let failures = 0;
  let environment: unknown = JSON.parse(readFileSync(ENVIRONMENT, 'utf8'));
  try {
    const server = await startServer(work, 'main', {});
    try {
      for (const [folder, certificate] of FOLDERS) {
        const result = await runFolder(server, environment, folder, certificate);
        failures += result.failures;
        environment = result.environment;
      }
    } finally {
      failures += await stopServer(server);
    }
    const limited = await startServer(work, 'limited', { HSMP_LIMIT_USER_DAILY: '3' });
    try {
      failures += (await runFolder(limited, environment, BLACKLISTING, 'ap-production')).failures;
    } finally {
      failures += await stopServer(limited);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(failures === 0 ? '\nnewman: every request of the collection passed' : `\nnewman: ${failures} failure(s)`);
  process.exit(failures === 0 ? 0 : 1);
}

async function runFolder(server: Server, environment: unknown, folder: string, certificate: ClientCase | 'none'): Promise<{ failures: number; environment: unknown }> {
  const pki = devPkiPaths(server.pkiDir);
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: COLLECTION,
        environment: environment as newman.NewmanRunOptions['environment'],
        envVar: [
          { key: 'baseUrl', value: `https://localhost:${server.publicPort}` },
          { key: 'smlUrl', value: `https://localhost:${server.devSmlPort}` },
          { key: 'adminUrl', value: `http://127.0.0.1:${server.adminPort}` },
          { key: 'adminToken', value: server.token },
        ],
        folder,
        reporters: ['cli'],
        reporter: { cli: { noSummary: false, noBanner: true } },
        sslExtraCaCerts: pki.serverCa,
        ...(certificate === 'none' ? {} : { sslClientCert: pki.clientCert(certificate), sslClientKey: pki.clientKey(certificate) }),
        timeoutRequest: 20_000,
      },
      (error, summary) => {
        if (error) { reject(error); return; }
        const failures = summary.run.failures.length + (summary.run.stats.requests.total === 0 ? 1 : 0);
        resolve({ failures, environment: summary.environment });
      },
    );
  });
}

async function startServer(work: string, name: string, extraEnv: Record<string, string>): Promise<Server> {
  const [publicPort, adminPort, revocationPort, devSmlPort] = await freePorts(4);
  const token = randomBytes(24).toString('base64url');
  const pkiDir = path.join(work, 'pki'); // made on the first start, kept for the second (its responder port differs: regenerated)
  const cleanups: Array<() => Promise<void>> = [];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HSMP_HOST: '127.0.0.1',
    HSMP_PORT: String(publicPort),
    HSMP_ADMIN_PORT: String(adminPort),
    HSMP_DEV_REVOCATION_PORT: String(revocationPort),
    HSMP_DEV_SML_PORT: String(devSmlPort),
    HSMP_DEV_PKI_DIR: pkiDir,
    HSMP_DATA_DIR: path.join(work, `data-${name}`),
    HSMP_ENVIRONMENTS: 'test,production',
    HSMP_ADMIN_TOKENS: `newman:${createHash('sha256').update(token).digest('hex')}`,
    HSMP_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  if (process.env.DATABASE_URL) {
    const database = await freshDatabase(process.env.DATABASE_URL, `hsmp_newman_${randomBytes(5).toString('hex')}`);
    cleanups.push(database.drop);
    env.DATABASE_URL = database.url;
  }
  if (process.env.REDIS_URL) {
    env.REDIS_URL = process.env.REDIS_URL;
    env.HSMP_REDIS_PREFIX = `hsmp-newman-${randomBytes(5).toString('hex')}`;
  }
  const output: string[] = [];
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
  const server: Server = { child, publicPort, adminPort, devSmlPort, pkiDir, token, output, cleanup: async () => { for (const c of cleanups) await c(); } };
  await waitUntilReady(server);
  const seeded = await runCli(server, ['seed', '--datasets', '1', '--reason', 'newman run']);
  if (seeded.code !== 0) throw new Error(`hsmp-admin seed failed: ${seeded.output}`);
  console.log(`\nnewman: server "${name}" on https://localhost:${publicPort} (${env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${env.REDIS_URL ? 'Redis' : 'memory'} counters)`);
  return server;
}

/** SIGTERM must finish in-flight work and exit 0 within 10 s; anything else is a failure. */
async function stopServer(server: Server): Promise<number> {
  const started = Date.now();
  const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => { resolve(code); }));
  server.child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => { r('timeout'); }, 12_000))]);
  await server.cleanup();
  if (code === 0 && Date.now() - started < 10_000) return 0;
  server.child.kill('SIGKILL');
  console.error(`newman: the server did not shut down cleanly on SIGTERM (exit ${code})\n${server.output.join('')}`);
  return 1;
}

async function waitUntilReady(server: Server): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) throw new Error(`the server exited (${server.child.exitCode}):\n${server.output.join('')}`);
    try {
      const response = await request(`http://127.0.0.1:${server.adminPort}/readyz`);
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  server.child.kill('SIGKILL');
  throw new Error(`the server was not ready within 60 s:\n${server.output.join('')}`);
}

function runCli(server: Server, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const cli = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'hsmp-admin.js'), ...args], {
      env: { PATH: process.env.PATH, HSMP_ADMIN_URL: `http://127.0.0.1:${server.adminPort}`, HSMP_ADMIN_TOKEN: server.token },
    });
    let output = '';
    cli.stdout.on('data', (d: Buffer) => (output += d));
    cli.stderr.on('data', (d: Buffer) => (output += d));
    cli.on('exit', (code) => { resolve({ code, output }); });
  });
}

main().catch((error: unknown) => {
  console.error(`newman: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
