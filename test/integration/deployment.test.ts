import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePortsToReuse, portIsFree } from '../support/server-process';
import type { DevPkiIndex } from '../../src/dev/dev-pki';
import { testPki } from '../support/pki';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');

/** `node dist/src/main.js` as a supervisor runs it; exits before listening when the configuration is wrong. */
function runMain(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 120_000 });
}

describe('the real entry point refuses what is not a deployment', () => {
  const pki = testPki();
  /** Every variable of a production deployment serving both environments. */
  const production: Record<string, string> = {
    HSMP_TLS_CERT: pki.serverCert,
    HSMP_TLS_KEY: pki.serverKey,
    HSMP_TRUSTSTORE: pki.manifest,
    HSMP_SML_URL_TEST: 'https://acc.edelivery.tech.ec.europa.eu/edelivery-sml/manageparticipantidentifier',
    HSMP_SML_CERT_TEST: pki.clientCert('smp-test'),
    HSMP_SML_KEY_TEST: pki.clientKey('smp-test'),
    HSMP_SML_URL_PRODUCTION: 'https://edelivery.tech.ec.europa.eu/edelivery-sml/manageparticipantidentifier',
    HSMP_SML_CERT_PRODUCTION: pki.clientCert('smp-production'),
    HSMP_SML_KEY_PRODUCTION: pki.clientKey('smp-production'),
  };

  it.each(Object.keys(production))(
    'a production configuration without %s exits 1 with one line naming it',
    (missing) => {
      const env: NodeJS.ProcessEnv = { ...production, HSMP_ENVIRONMENTS: 'test,production', [missing]: '' };
      const run = runMain(env);
      expect(run.status).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(
        new RegExp(`^hsmp-mtci: configuration error: ${missing}: missing \\(.* are set, so this is a production deployment[^\\n]*\\)\\n$`),
      );
    },
    150_000,
  );

  it.each([
    // The blocker this replaces: a certificate and an environment, no trust store, became a development deployment.
    [{ HSMP_TLS_CERT: pki.serverCert, HSMP_TLS_KEY: pki.serverKey, HSMP_ENVIRONMENT: 'production' }, /^HSMP_TRUSTSTORE, HSMP_SML_URL_PRODUCTION, /],
    [{ NODE_ENV: 'production' }, /^HSMP_TLS_CERT, HSMP_TLS_KEY, HSMP_TRUSTSTORE, .*a development deployment is refused \(NODE_ENV=production\)/],
    [{ HSMP_DEPLOYMENT: 'production' }, /a development deployment is refused \(HSMP_DEPLOYMENT=production\)/],
    [{ HSMP_PORT: 'abc' }, /^HSMP_PORT: /],
    [{ ...production, HSMP_TRUSTSTORE: __filename, HSMP_SML: 'off' }, /^trust store .*: /],
  ])(
    '%j exits 1 with one line on stderr',
    (env, message) => {
      const run = runMain(env);
      expect(run.status).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0].replace(/^hsmp-mtci: (configuration error: )?/, '')).toMatch(message);
    },
    150_000,
  );
});

/**
 * `npm start` as a new user sees it: a development deployment on an empty data directory. The
 * commands it prints are run as printed, in order, by bash from the repository's root; then a
 * restart must keep what they did.
 */
describe('the development deployment', () => {
  // A first start generates nothing (the PKI is copied) but applies every migration to an
  // embedded database: a minute or more on a busy two-core machine.
  const START_MS = 300_000;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let server: RunningMain | undefined;

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-walkthrough-'));
    // The run's PKI, copied: making one costs seconds. Its responder runs in jest's process, so
    // this deployment starts none (revocation off) and the copy is reused as it is.
    cpSync(testPki().dir, path.join(work, 'pki'), { recursive: true });
    const index = JSON.parse(readFileSync(testPki().index, 'utf8')) as DevPkiIndex;
    // The restart below binds the same ports again.
    const [port, adminPort, smlPort] = await freePortsToReuse(3);
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HSMP_HOST: '127.0.0.1',
      HSMP_PORT: String(port),
      HSMP_ADMIN_PORT: String(adminPort),
      HSMP_DEV_SML_PORT: String(smlPort),
      HSMP_DEV_REVOCATION_PORT: new URL(index.revocationBaseUrl).port,
      HSMP_REVOCATION: 'off',
      HSMP_DEV_PKI_DIR: path.join(work, 'pki'),
      HSMP_DATA_DIR: path.join(work, 'data'),
    };
  });
  afterAll(async () => {
    await server?.stop();
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  it(
    'says so first, prints an operator token once and commands that work pasted in order: collect, Migrate, reconcile, collect → HSMP-013',
    async () => {
      server = await startMain(env);
      const first = JSON.parse(server.stdout().split('\n')[0]) as { deployment: string; msg: string };
      expect(first).toMatchObject({ deployment: 'development', msg: expect.stringMatching(/^development deployment: /) });
      const printed = server.stdout();
      expect(printed).not.toMatch(/<your token>|HSMP_ADMIN_TOKENS/);
      expect(printed).toContain(`Operator console: http://127.0.0.1:${env.HSMP_ADMIN_PORT}/`);

      const answers = runPrinted(printed);
      expect(answers).toHaveLength(7);
      const [exported, json, xml, kept, migrated, reconciled, after] = answers;
      expect(exported).toBe('');
      const key = (JSON.parse(json) as { migrationKey: string }).migrationKey;
      expect(key).toMatch(/^\S{16,}$/);
      expect(xml).toContain(`<MigrationKey>${key}</MigrationKey>`);
      expect(kept).toBe('');
      expect(migrated).toMatch(/<soapenv:Body\/>/);
      expect(reconciled).toMatch(/1 marked migrated/);
      expect(JSON.parse(after)).toMatchObject({ code: 'HSMP-013', status: 404 });
    },
    START_MS,
  );

  it(
    'stops on SIGTERM with a last "stopped" line, and a restart keeps the migration (no re-seeding, no new token)',
    async () => {
      const stopped = await server!.stop();
      expect(stopped.code).toBe(0);
      const lines = stopped.stdout.trim().split('\n');
      expect(JSON.parse(lines[lines.length - 1])).toMatchObject({ msg: 'stopped' });

      server = await startMain(env);
      const printed = server.stdout();
      expect(printed).toMatch(/The operator token was printed on the first start/);
      expect(printed).not.toMatch(/HSMP_ADMIN_TOKEN=/);
      expect(printed).not.toMatch(/demo dataset seeded/);
      const collect = printed.split('\n').find((line) => line.startsWith('  curl') && line.includes('application/json'))!;
      const [answer] = runPrinted(collect);
      expect(JSON.parse(answer)).toMatchObject({ code: 'HSMP-013' });
    },
    START_MS,
  );

  it(
    'stops when the `npm start` that started it is killed, with a last "stopped" line, and frees its ports',
    async () => {
      await server?.stop();
      server = undefined;
      // npm itself (its prestart build skipped: dist is built). On SIGTERM npm and its shell exit
      // and node, their grandchild, is left to init: it has to notice on its own.
      const npm = spawn('npm', ['start', '--ignore-scripts'], {
        cwd: ROOT,
        env: { ...env, npm_config_update_notifier: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(npm);
      let output = '';
      npm.stdout.on('data', (d: Buffer) => (output += d.toString()));
      await waitFor(
        () => output.includes('hsmp-mtci started'),
        START_MS - 30_000,
        () => output,
      );
      npm.kill('SIGTERM');
      await waitFor(
        () => output.includes('"msg":"stopped"'),
        15_000,
        () => output,
      );
      expect(await portIsFree(Number(env.HSMP_PORT))).toBe(true);
      expect(await portIsFree(Number(env.HSMP_ADMIN_PORT))).toBe(true);
    },
    START_MS,
  );
});

/** Every process these tests started, killed at the end whatever happened. */
const started: ChildProcess[] = [];

interface RunningMain {
  child: ChildProcess;
  stdout(): string;
  stop(): Promise<{ code: number | null; stdout: string }>;
}

async function startMain(env: NodeJS.ProcessEnv): Promise<RunningMain> {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // Started, and the walkthrough printed: its seven commands (an export, four collections, Migrate, reconcile).
  await waitFor(
    () => (stdout.includes('"msg":"hsmp-mtci started"') && (stdout.match(/^ {2}\S/gm) ?? []).length >= 7) || child.exitCode !== null,
    270_000,
    () => stdout + stderr,
  );
  if (child.exitCode !== null) throw new Error(`the service exited ${child.exitCode}:\n${stdout}${stderr}`);
  let stopping: Promise<{ code: number | null; stdout: string }> | undefined;
  return {
    child,
    stdout: () => stdout,
    stop: () =>
      (stopping ??= (async () => {
        child.kill('SIGTERM');
        const code = await exited;
        return { code, stdout };
      })()),
  };
}

/** Each printed command (the lines indented by two spaces), run by one bash in order; the output of each. */
function runPrinted(printed: string): string[] {
  const commands = printed
    .split('\n')
    .filter((line) => /^ {2}\S/.test(line))
    .map((line) => line.slice(2));
  const marker = `--- ${randomBytes(6).toString('hex')} ---`;
  const script = ['set -euo pipefail', ...commands.flatMap((command) => [command, `echo '${marker}'`])].join('\n');
  const run = spawnSync('bash', ['-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  if (run.status !== 0) throw new Error(`the printed commands failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return run.stdout
    .split(`${marker}\n`)
    .slice(0, commands.length)
    .map((answer) => answer.trim());
}

async function waitFor(condition: () => boolean, ms: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
