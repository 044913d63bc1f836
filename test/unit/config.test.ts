import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig, resolveSmlEndpoints } from '../../src/config/config';
import { testPki } from '../support/pki';

const MAIN = path.resolve(__dirname, '..', '..', 'src', 'main.js');

describe('configuration', () => {
  it('has the defaults of SPEC §8', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8443,
      environment: 'test',
      environments: ['test'],
      smpId: 'HERMES-SMP',
      limits: { userDaily: 1000, ipDaily: 5000, globalDaily: 100000 },
      revocation: { mode: 'soft', order: ['ocsp', 'crl'] },
      trustedProxies: [],
      adminHost: '127.0.0.1',
      adminPort: 9090,
      adminOperators: [],
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
  });

  it.each([
    [{ HSMP_PORT: 'abc' }, /^HSMP_PORT: .*port.*\(got "abc"\)$/],
    [{ HSMP_PORT: '70000' }, /^HSMP_PORT: /],
    [{ HSMP_ENVIRONMENT: 'staging' }, /^HSMP_ENVIRONMENT: expected one of test, production/],
    [{ HSMP_ENVIRONMENTS: 'test,prod' }, /^HSMP_ENVIRONMENTS: "prod"/],
    [{ HSMP_ENVIRONMENT: 'production', HSMP_ENVIRONMENTS: 'test' }, /^HSMP_ENVIRONMENTS: must include/],
    [{ HSMP_LIMIT_USER_DAILY: '0' }, /^HSMP_LIMIT_USER_DAILY: /],
    [{ HSMP_REVOCATION: 'maybe' }, /^HSMP_REVOCATION: expected off, soft or hard/],
    [{ HSMP_TRUSTED_PROXIES: '10.0.0.0/8,not-an-ip' }, /^HSMP_TRUSTED_PROXIES: "not-an-ip"/],
    [{ HSMP_ADMIN_TOKENS: 'alice:1234' }, /^HSMP_ADMIN_TOKENS: "alice:1234": expected name:sha256/],
    [{ HSMP_TLS_CERT: '/nonexistent/cert.pem' }, /^HSMP_TLS_CERT: file not found/],
    [{ HSMP_TLS_CERT: __filename }, /^HSMP_TLS_CERT and HSMP_TLS_KEY: set both or neither/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: expected a postgres:\/\/ URL/],
    [{ HSMP_KEY_ENCRYPTION_KEY: 'short' }, /^HSMP_KEY_ENCRYPTION_KEY: /],
    [{ HSMP_WORKERS: '2' }, /^HSMP_WORKERS: more than one worker needs REDIS_URL/],
    [{ HSMP_WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379' }, /^HSMP_WORKERS: more than one worker needs DATABASE_URL/],
    [{ HSMP_WORKERS: 'many' }, /^HSMP_WORKERS: /],
  ])('refuses %j with a one-line reason', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('parses proxies, operators and lists', () => {
    const config = loadConfig({
      HSMP_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1, ::1',
      HSMP_ADMIN_TOKENS: `alice:${'a'.repeat(64)},bob:${'B'.repeat(64)}`,
      HSMP_ENVIRONMENT: 'production',
      HSMP_ENVIRONMENTS: 'production,test',
      HSMP_REVOCATION_ORDER: 'crl,ocsp',
    });
    expect(config.trustedProxies.map(([ip, bits]) => `${ip.toString()}/${bits}`)).toEqual(['10.0.0.0/8', '127.0.0.1/32', '::1/128']);
    expect(config.adminOperators.map((o) => o.name)).toEqual(['alice', 'bob']);
    expect(config.environments).toEqual(['production', 'test']);
    expect(config.revocation.order).toEqual(['crl', 'ocsp']);
  });

  it('SML: on by default, every variable of SPEC §8 read, bad values refused', () => {
    const defaults = loadConfig({}).sml;
    expect(defaults).toMatchObject({ enabled: true, timeoutMs: 10_000, reconcileIntervalSeconds: 3600, reconcileMaxShare: 0.1 });
    const config = loadConfig({
      HSMP_SML: 'on',
      HSMP_ENVIRONMENTS: 'test,production',
      HSMP_SML_URL_PRODUCTION: 'https://sml.example/edelivery-sml/manageparticipantidentifier',
      HSMP_SML_CERT_PRODUCTION: __filename,
      HSMP_SML_KEY_PRODUCTION: __filename,
      HSMP_SML_TIMEOUT_MS: '2500',
      HSMP_SML_RECONCILE_INTERVAL: '0',
      HSMP_SML_RECONCILE_MAX_SHARE: '0.25',
    });
    expect(config.sml.endpoints.production).toEqual({
      url: 'https://sml.example/edelivery-sml/manageparticipantidentifier',
      certFile: __filename,
      keyFile: __filename,
    });
    expect(config.sml).toMatchObject({ timeoutMs: 2500, reconcileIntervalSeconds: 0, reconcileMaxShare: 0.25 });
    for (const [env, message] of [
      [{ HSMP_SML: 'maybe' }, /^HSMP_SML: expected on or off/],
      [{ HSMP_SML_URL_TEST: 'http://sml.example' }, /^HSMP_SML_URL_TEST: expected an https:\/\/ URL/],
      [{ HSMP_SML_RECONCILE_MAX_SHARE: '2' }, /^HSMP_SML_RECONCILE_MAX_SHARE: /],
      [{ HSMP_SML_CERT_TEST: '/nonexistent.pem' }, /^HSMP_SML_CERT_TEST: file not found/],
    ] as const) {
      expect(() => loadConfig(env)).toThrow(message);
    }
  });

  it('SML on: a served environment without its SML URL, certificate and key is a configuration error', () => {
    const config = loadConfig({
      HSMP_ENVIRONMENTS: 'test,production',
      HSMP_SML_URL_TEST: 'https://smk.example/manageparticipantidentifier',
      HSMP_SML_CERT_TEST: __filename,
      HSMP_SML_KEY_TEST: __filename,
    });
    expect(() => resolveSmlEndpoints(config)).toThrow(
      /^HSMP_SML_URL_PRODUCTION, HSMP_SML_CERT_PRODUCTION, HSMP_SML_KEY_PRODUCTION: HSMP_SML=on and the production environment is served/,
    );
    const partial = loadConfig({ HSMP_SML_URL_TEST: 'https://smk.example/manageparticipantidentifier' });
    expect(() => resolveSmlEndpoints(partial)).toThrow(/^HSMP_SML_CERT_TEST, HSMP_SML_KEY_TEST: /);
    // The development SML fills only environments that name nothing of their own.
    const dev = { url: 'https://localhost:8890/production/manageparticipantidentifier', certFile: 'c', keyFile: 'k', caFile: 'ca' };
    expect(resolveSmlEndpoints(config, () => dev)?.get('production')).toEqual(dev);
    expect(() => resolveSmlEndpoints(partial, () => dev)).toThrow(/^HSMP_SML_CERT_TEST/);
    expect(resolveSmlEndpoints(loadConfig({ HSMP_SML: 'off' }))).toBeUndefined();
  });

  it.each([
    [{ HSMP_PORT: 'abc' }, /^hsmp-mtci: configuration error: HSMP_PORT: /],
    [
      { HSMP_TRUSTSTORE: testPki().manifest, HSMP_TLS_CERT: testPki().serverCert, HSMP_TLS_KEY: testPki().serverKey },
      /^hsmp-mtci: configuration error: HSMP_SML_URL_TEST, HSMP_SML_CERT_TEST, HSMP_SML_KEY_TEST: HSMP_SML=on and the test environment is served/,
    ],
    [
      { HSMP_TRUSTSTORE: __filename, HSMP_TLS_CERT: __filename, HSMP_TLS_KEY: __filename, HSMP_SML: 'off' },
      /^hsmp-mtci: configuration error: trust store .*: /,
    ],
  ])('the service exits 1 with one line on stderr for %j', (env, message) => {
    const run = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});
