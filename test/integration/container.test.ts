import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePorts } from '../support/server-process';
import { freshDatabase } from '../support/throwaway-database';
import { CONFIG_VARIABLES } from '../../src/config/config';
import { DEPLOYMENT_VARIABLES } from '../../src/config/deployment';
import { testPki } from '../support/pki';
import { itWithServers } from '../support/service';

/**
 * No Docker engine runs here, so the container path is tested by what can be run without one:
 * the image's start command with the environment the image, .env.example and compose.yaml give
 * it, the files mounted where compose mounts them, and the health checks as they are written.
 */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface ComposeService {
  env_file?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  command?: string[];
  healthcheck?: { test: string[] };
}
const compose = parseYaml(read('compose.yaml')) as { services: Record<string, ComposeService> };
const hsmp = compose.services.hsmp;

/** The final stage of the Dockerfile: its ENV, WORKDIR, CMD and HEALTHCHECK. */
function image() {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const lastStage = text.slice(text.lastIndexOf('\nFROM '));
  const instructions = lastStage.split('\n').filter((line) => /^[A-Z]+ /.test(line));
  const env: Record<string, string> = {};
  for (const line of instructions.filter((l) => l.startsWith('ENV '))) {
    for (const [, name, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[name] = value;
  }
  const cmd = JSON.parse(instructions.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
  const workdir = instructions
    .find((l) => l.startsWith('WORKDIR '))!
    .slice(8)
    .trim();
  const healthcheck = /CMD (.*)$/.exec(instructions.find((l) => l.startsWith('HEALTHCHECK '))!)![1];
  return { env, cmd, workdir, healthcheck };
}

/** NAME=value lines of an env file; `# NAME=` lines are documented but unset (further-indented ones are examples). */
function envFile(text: string): { set: Record<string, string>; documented: Set<string> } {
  const set: Record<string, string> = {};
  const documented = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^(# ?)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    documented.add(match[2]);
    if (!match[1]) set[match[2]] = match[3];
  }
  return { set, documented };
}

/** Compose's interpolation of ${NAME}, ${NAME:-default} and ${NAME:?error} from the .env file. */
function interpolate(value: string, dotEnv: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, text?: string) => {
    const given = dotEnv[name];
    if (given) return given;
    if (kind === '?') throw new Error(`compose: ${text}`);
    return kind === '-' ? (text ?? '') : '';
  });
}

describe('the container path', () => {
  const example = envFile(read('.env.example'));

  it('.env.example documents every production variable, and only those', () => {
    const known = new Set([...CONFIG_VARIABLES, ...DEPLOYMENT_VARIABLES]);
    expect([...known].filter((name) => !example.documented.has(name))).toEqual([]);
    expect([...example.documented].filter((name) => !known.has(name) && name !== 'POSTGRES_PASSWORD')).toEqual([]);
  });

  it('the image refuses a development deployment and starts node itself; Redis keeps an append-only file; the SMP certificate is mounted', () => {
    const { env, cmd } = image();
    expect(env.NODE_ENV).toBe('production');
    expect(cmd).toEqual(['node', 'dist/src/main.js']);
    expect(compose.services.redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(compose.services.redis.volumes).toEqual([expect.stringMatching(/:\/data$/)]);
    const mounts = (hsmp.volumes ?? []).map((v) => v.split(':')[1]);
    expect(mounts).toContain(path.posix.dirname(example.set.HSMP_SML_CERT_TEST));
    expect(mounts).toContain(path.posix.dirname(hsmp.environment!.HSMP_TLS_CERT));
    expect(hsmp.env_file).toBe('.env');
    // Unfilled, the example is refused by compose before anything starts.
    expect(() => Object.values(hsmp.environment!).map((v) => interpolate(v, example.set))).toThrow(/set POSTGRES_PASSWORD in .env/);
  });

  itWithServers('DATABASE_URL', 'REDIS_URL')(
    "the image's command, with the image's, .env's and compose's environment, starts as a production deployment; both health checks reach /readyz; SIGTERM stops it",
    async () => {
      const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-container-'));
      const database = await freshDatabase(process.env.DATABASE_URL!, `hsmp_container_${randomBytes(4).toString('hex')}`);
      try {
        // What the operator puts beside compose.yaml: the certificates, and .env filled in.
        const pki = testPki();
        mkdirSync(path.join(work, 'certs', 'server'), { recursive: true });
        mkdirSync(path.join(work, 'certs', 'smp'), { recursive: true });
        copyFileSync(pki.serverCert, path.join(work, 'certs', 'server', 'server.pem'));
        copyFileSync(pki.serverKey, path.join(work, 'certs', 'server', 'server.key'));
        copyFileSync(pki.clientCert('smp-test'), path.join(work, 'certs', 'smp', 'smp-test.pem'));
        copyFileSync(pki.clientKey('smp-test'), path.join(work, 'certs', 'smp', 'smp-test.key'));
        const dotEnv = { ...example.set, POSTGRES_PASSWORD: 'secret', HSMP_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex') };

        const { env: imageEnv, cmd, workdir, healthcheck } = image();
        const composed = Object.fromEntries(Object.entries(hsmp.environment!).map(([k, v]) => [k, interpolate(v, dotEnv)]));
        const containerEnv: Record<string, string> = { ...imageEnv, ...dotEnv, ...composed };
        delete containerEnv.POSTGRES_PASSWORD;

        // The container's file system: compose's mounts from `work`, the rest from the image (this checkout).
        const mounts = (hsmp.volumes ?? []).map((v) => {
          const [from, to] = v.split(':');
          return { to, from: from.startsWith('./') ? path.join(work, from) : path.join(work, 'volumes', from) };
        });
        const onHost = (value: string) => {
          if (!value.startsWith(`${workdir}/`)) return value;
          const mount = mounts.find((m) => value === m.to || value.startsWith(`${m.to}/`));
          return mount ? mount.from + value.slice(mount.to.length) : path.join(ROOT, value.slice(workdir.length + 1));
        };
        // What compose's network and port mapping provide, here: the run's servers, free ports.
        const [port, adminPort] = await freePorts(2);
        expect(containerEnv.DATABASE_URL).toMatch(/^postgresql:\/\/hsmp:secret@postgres:5432\/hsmp$/);
        expect(containerEnv.REDIS_URL).toBe('redis://redis:6379');
        const env: NodeJS.ProcessEnv = {
          ...Object.fromEntries(Object.entries(containerEnv).map(([k, v]) => [k, onHost(v)])),
          PATH: process.env.PATH,
          DATABASE_URL: database.url,
          REDIS_URL: process.env.REDIS_URL,
          HSMP_REDIS_PREFIX: `hsmp-container-${randomBytes(4).toString('hex')}`,
          HSMP_PORT: String(port),
          HSMP_ADMIN_PORT: String(adminPort),
        };
        mkdirSync(env.HSMP_DATA_DIR!, { recursive: true });

        const child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0], cmd.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
        try {
          const composeCheck = hsmp.healthcheck!.test.slice(1).map((arg) => arg.replace('9090', String(adminPort)));
          const healthy = () =>
            spawnSync(composeCheck[0] === 'node' ? process.execPath : composeCheck[0], composeCheck.slice(1), { timeout: 60_000 }).status === 0;
          const deadline = Date.now() + 240_000;
          while (!healthy()) {
            if (child.exitCode !== null || Date.now() > deadline) throw new Error(`not healthy (exit ${child.exitCode}):\n${output}`);
            await new Promise((r) => setTimeout(r, 500));
          }
          const imageCheck = spawnSync('sh', ['-c', healthcheck], { env: { PATH: process.env.PATH, HSMP_ADMIN_PORT: String(adminPort) }, timeout: 60_000 });
          expect(imageCheck.status).toBe(0);
          expect(JSON.parse(output.split('\n')[0])).toMatchObject({ deployment: 'production', environments: ['test'] });
        } finally {
          child.kill('SIGTERM');
        }
        expect(await exited).toBe(0);
        const lines = output.trim().split('\n');
        expect(JSON.parse(lines[lines.length - 1])).toMatchObject({ msg: 'stopped' });
      } finally {
        await database.drop();
        rmSync(work, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
