import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import type { ClientCase } from '../../src/dev/dev-pki';
import { loadConfig } from '../../src/config/config';
import { createLogger } from '../../src/log';
import { startService, type RunningService } from '../../src/service';
import { clientAgent, testPki } from './pki';
import type { DevSml } from '../../src/dev/dev-sml';
import { devSmlEndpoint, startDevSmlForDevPki } from '../../src/dev/dev-sml-wiring';
import type { DevPkiIndex } from '../../src/dev/dev-pki';
import { readFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { freshDatabase } from '../../bench/support';

/**
 * Starts the real service in this process on ephemeral ports, against the database and Redis
 * the run has: with DATABASE_URL a fresh database created on that server (dropped by stop()),
 * otherwise an embedded PGlite in a temporary directory; with REDIS_URL a fresh key prefix.
 */
export interface TestService extends RunningService {
  env: Record<string, string>;
  operatorToken: string;
  /** The development SML this service prepares its keys with (shared with `sameStoreAs`). */
  devSml: DevSml;
  get(path: string, options?: RequestOptions): Promise<TestResponse>;
  admin(method: string, path: string, body?: unknown, token?: string): Promise<TestResponse>;
  stop(): Promise<void>;
}

export interface RequestOptions {
  certificate?: ClientCase | 'none';
  accept?: string;
  method?: string;
  headers?: Record<string, string>;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

export interface TestServiceOptions {
  env?: Record<string, string>;
  /** Share the database (and Redis prefix) of another service: a second instance. */
  sameStoreAs?: TestService;
  now?: () => Date;
  /** Receives the service's JSON log lines (at info level). */
  logLines?: string[];
  /** A development SML to use instead of a fresh one (stopped by its owner). */
  devSml?: DevSml;
}

export const TEST_OPERATOR = 'tester';

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const pki = testPki();
  const operatorToken = options.sameStoreAs?.operatorToken ?? randomBytes(24).toString('base64url');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-test-data-'));
  let dropDatabase: (() => Promise<void>) | undefined;
  const storeEnv: Record<string, string> = {};
  if (options.sameStoreAs) {
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'HSMP_REDIS_PREFIX', 'HSMP_KEY_ENCRYPTION_KEY'])
      if (options.sameStoreAs.env[k]) storeEnv[k] = options.sameStoreAs.env[k];
  } else {
    storeEnv.HSMP_KEY_ENCRYPTION_KEY = randomBytes(32).toString('hex');
    if (process.env.DATABASE_URL) {
      const created = await freshDatabase(process.env.DATABASE_URL, `hsmp_test_${randomBytes(6).toString('hex')}`);
      storeEnv.DATABASE_URL = created.url;
      dropDatabase = created.drop;
    }
    if (process.env.REDIS_URL) {
      storeEnv.REDIS_URL = process.env.REDIS_URL;
      storeEnv.HSMP_REDIS_PREFIX = `hsmp-test-${randomBytes(6).toString('hex')}`;
    }
  }
  const env: Record<string, string> = {
    HSMP_HOST: '127.0.0.1',
    HSMP_PORT: '0',
    HSMP_ADMIN_PORT: '0',
    HSMP_TLS_CERT: pki.serverCert,
    HSMP_TLS_KEY: pki.serverKey,
    HSMP_TRUSTSTORE: pki.manifest,
    HSMP_ENVIRONMENTS: 'test,production',
    HSMP_DATA_DIR: dataDir,
    HSMP_ADMIN_TOKENS: `${TEST_OPERATOR}:${createHash('sha256').update(operatorToken).digest('hex')}`,
    HSMP_LOG_LEVEL: process.env.HSMP_TEST_LOG_LEVEL ?? 'silent',
    ...storeEnv,
    ...options.env,
  };
  if (!('DATABASE_URL' in storeEnv) && options.env?.DATABASE_URL === undefined) delete env.DATABASE_URL;
  const config = loadConfig(env);
  const sharedSml = options.devSml ?? options.sameStoreAs?.devSml;
  const devSml = sharedSml ?? (await startDevSmlForDevPki({ pkiDir: pki.dir, index: devPkiIndex(), smpId: config.smpId, port: 0 }));
  const running = await startService(
    config,
    {
      tlsCert: pki.serverCert,
      tlsKey: pki.serverKey,
      trustStoreManifest: config.trustStoreManifest ?? pki.manifest,
      smlFallback: (environment) => devSmlEndpoint(pki.dir, devSml.url, environment),
    },
    {
      logger: options.logLines ? createLogger('info', { write: (line: string) => void options.logLines?.push(line) }) : createLogger(config.logLevel),
      now: options.now,
    },
  ).catch(async (error: unknown) => {
    if (!sharedSml) await devSml.close();
    throw error;
  });

  let closing: Promise<void> | undefined;
  const closeOnce = () => (closing ??= running.close());
  const service: TestService = {
    ...running,
    close: closeOnce,
    env,
    operatorToken,
    devSml,
    get: (p, o = {}) =>
      call(
        running.publicUrl + p,
        o.method ?? 'GET',
        { accept: o.accept ?? 'application/xml', ...o.headers },
        undefined,
        clientAgent(o.certificate ?? 'ap-production'),
      ),
    admin: (method, p, body, token = operatorToken) =>
      call(
        running.adminUrl + p,
        method,
        { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body === undefined ? undefined : JSON.stringify(body),
      ),
    stop: async () => {
      await closeOnce();
      if (!sharedSml) await devSml.close();
      await dropDatabase?.();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return service;
}

export async function call(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
  dispatcher?: ReturnType<typeof clientAgent>,
): Promise<TestResponse> {
  const response = await request(url, { method: method as 'GET', headers, body, dispatcher });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: text, json: () => JSON.parse(text) };
}

function devPkiIndex(): DevPkiIndex {
  return JSON.parse(readFileSync(testPki().index, 'utf8')) as DevPkiIndex;
}

/** With CI=true a test that needs a server must not silently skip when the server is missing. */
export function requireInCi(variable: 'DATABASE_URL' | 'REDIS_URL'): boolean {
  if (process.env[variable]) return true;
  if (process.env.CI === 'true') throw new Error(`${variable} must be set in CI: this test needs the real server`);
  return false;
}

/** `it` when the run has these servers, `it.skip` (reported as skipped) when it has not; CI must have them. */
export function itWithServers(...variables: Array<'DATABASE_URL' | 'REDIS_URL'>): jest.It {
  return variables.every(requireInCi) ? it : it.skip;
}

/** Starts a job through the admin API and waits for its end: the final job, or the refusal to start it. */
export async function adminJob(
  service: TestService,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; job: any; started: TestResponse }> {
  const started = await service.admin(method, path, body);
  if (started.status !== 202) return { status: started.status, job: undefined, started };
  let job = started.json();
  while (job.state === 'running') {
    const next = await service.admin('GET', `/admin/jobs/${job.id}?wait=10&after=${job.revision}`);
    job = next.json();
  }
  return { status: started.status, job, started };
}
