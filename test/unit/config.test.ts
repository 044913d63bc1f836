import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/config/config';
import { resolveDeployment } from '../../src/config/deployment';
import { readDevSettings } from '../../src/dev/dev-settings';

describe('configuration', () => {
  it('has the defaults of SPEC §8', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      publicListener: { host: '0.0.0.0', port: 8443 },
      peppol: { environment: 'test', environments: ['test'], smpId: 'HERMES-SMP' },
      quota: { limits: { userDaily: 1000, ipDaily: 5000, globalDaily: 100000 } },
      tls: { revocation: { mode: 'soft', order: ['ocsp', 'crl'] }, trustedProxies: [], clientCertHeader: 'x-ssl-client-cert' },
      admin: { host: '127.0.0.1', port: 9090, operators: [] },
    });
    expect(config.store.databaseUrl).toBeUndefined();
    expect(config.quota.redisUrl).toBeUndefined();
    // The development deployment's variables are not the production configuration's.
    expect(JSON.stringify(config)).not.toMatch(/dev/i);
    expect(readDevSettings({})).toMatchObject({ revocationPort: 8889, smlPort: 8890, smlDelayMs: 0 });
    expect(() => readDevSettings({ HSMP_DEV_SML_PORT: 'x' })).toThrow(/^HSMP_DEV_SML_PORT: /);
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
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: expected a postgres:\/\/ URL/],
    [{ HSMP_KEY_ENCRYPTION_KEY: 'short' }, /^HSMP_KEY_ENCRYPTION_KEY: /],
    [{ HSMP_WORKERS: '2' }, /^HSMP_WORKERS: more than one worker needs REDIS_URL/],
    [{ HSMP_WORKERS: '2', REDIS_URL: 'redis://127.0.0.1:6379' }, /^HSMP_WORKERS: more than one worker needs DATABASE_URL/],
    [{ HSMP_WORKERS: 'many' }, /^HSMP_WORKERS: /],
  ])('refuses %j with a one-line reason', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadConfig(env)).toThrow(/^[^\n]+$/);
  });

  it('parses proxies, operators and lists', () => {
    const config = loadConfig({
      HSMP_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1, ::1',
      HSMP_ADMIN_TOKENS: `alice:${'a'.repeat(64)},bob:${'B'.repeat(64)}`,
      HSMP_ENVIRONMENT: 'production',
      HSMP_ENVIRONMENTS: 'production,test',
      HSMP_REVOCATION_ORDER: 'crl,ocsp',
    });
    expect(config.tls.trustedProxies.map(([ip, bits]) => `${ip.toString()}/${bits}`)).toEqual(['10.0.0.0/8', '127.0.0.1/32', '::1/128']);
    expect(config.admin.operators.map((o) => o.name)).toEqual(['alice', 'bob']);
    expect(config.peppol.environments).toEqual(['production', 'test']);
    expect(config.tls.revocation.order).toEqual(['crl', 'ocsp']);
  });

  it('SML: on by default, its behaviour in the sml slice, bad values refused', () => {
    expect(loadConfig({}).sml).toEqual({
      enabled: true,
      keyMaxAgeDays: 0,
      timeoutMs: 10_000,
      maxInFlight: 64,
      reconcileIntervalSeconds: 3600,
      reconcileMaxShare: 0.1,
      reconcileWindowHours: 24,
      prepareConcurrency: 4,
    });
    const config = loadConfig({ HSMP_SML_TIMEOUT_MS: '2500', HSMP_SML_RECONCILE_INTERVAL: '0', HSMP_SML_RECONCILE_MAX_SHARE: '0.25', HSMP_SML: 'off' });
    expect(config.sml).toMatchObject({ enabled: false, timeoutMs: 2500, reconcileIntervalSeconds: 0, reconcileMaxShare: 0.25 });
    for (const [env, message] of [
      [{ HSMP_SML: 'maybe' }, /^HSMP_SML: expected on or off/],
      [{ HSMP_SML_RECONCILE_MAX_SHARE: '2' }, /^HSMP_SML_RECONCILE_MAX_SHARE: /],
    ] as const) {
      expect(() => loadConfig(env)).toThrow(message);
    }
  });
});

describe('the deployment', () => {
  const key = randomBytes(32).toString('hex');
  /** Every variable of a production deployment serving both environments, pointing at real files. */
  const production = {
    HSMP_TLS_CERT: __filename,
    HSMP_TLS_KEY: __filename,
    HSMP_TRUSTSTORE: __filename,
    HSMP_ENVIRONMENTS: 'test,production',
    HSMP_SML_URL_TEST: 'https://acc.edelivery.tech.ec.europa.eu/edelivery-sml/manageparticipantidentifier',
    HSMP_SML_CERT_TEST: __filename,
    HSMP_SML_KEY_TEST: __filename,
    HSMP_SML_URL_PRODUCTION: 'https://edelivery.tech.ec.europa.eu/edelivery-sml/manageparticipantidentifier',
    HSMP_SML_CERT_PRODUCTION: __filename,
    HSMP_SML_KEY_PRODUCTION: __filename,
  };
  const resolve = (env: NodeJS.ProcessEnv) => resolveDeployment(env, loadConfig(env));

  it('is a development deployment only when nothing of a real one is configured', () => {
    expect(resolve({})).toEqual({ kind: 'development' });
    // The store, Redis, tokens and environments do not make a deployment real.
    expect(resolve({ DATABASE_URL: 'postgresql://x', REDIS_URL: 'redis://x', HSMP_KEY_ENCRYPTION_KEY: key, HSMP_ENVIRONMENTS: 'test,production' })).toEqual({
      kind: 'development',
    });
  });

  it('resolves every file and SML endpoint of a complete production deployment once', () => {
    const deployment = resolve(production);
    expect(deployment.kind).toBe('production');
    if (deployment.kind !== 'production') return;
    expect(deployment.files.tlsCert).toBe(__filename);
    expect([...(deployment.files.sml?.keys() ?? [])]).toEqual(['test', 'production']);
    expect(deployment.files.sml?.get('production')?.url).toBe(production.HSMP_SML_URL_PRODUCTION);
    expect(resolve({ ...production, HSMP_SML: 'off', HSMP_SML_URL_TEST: '', HSMP_SML_CERT_TEST: '' })).toMatchObject({
      kind: 'production',
      files: { sml: undefined },
    });
  });

  it.each(Object.keys(production).filter((v) => v !== 'HSMP_ENVIRONMENTS'))('without %s a production deployment is refused, naming it', (variable) => {
    const env: NodeJS.ProcessEnv = { ...production, [variable]: undefined };
    expect(() => resolve(env)).toThrow(ConfigError);
    expect(() => resolve(env)).toThrow(new RegExp(`^${variable}: missing \\(`));
  });

  it('names everything missing in one line, and says how to run without an SML', () => {
    expect(() => resolve({ HSMP_TLS_CERT: __filename, HSMP_TLS_KEY: __filename, HSMP_ENVIRONMENT: 'production' })).toThrow(
      /^HSMP_TRUSTSTORE, HSMP_SML_URL_PRODUCTION, HSMP_SML_CERT_PRODUCTION, HSMP_SML_KEY_PRODUCTION: missing \(HSMP_TLS_CERT, HSMP_TLS_KEY are set, so this is a production deployment; HSMP_SML=off runs without an SML\)$/,
    );
  });

  it('can be refused outright: HSMP_DEPLOYMENT=production or NODE_ENV=production', () => {
    expect(() => resolve({ NODE_ENV: 'production' })).toThrow(/^HSMP_TLS_CERT, .*: missing \(a development deployment is refused \(NODE_ENV=production\)/);
    expect(() => resolve({ HSMP_DEPLOYMENT: 'production' })).toThrow(/a development deployment is refused \(HSMP_DEPLOYMENT=production\)/);
    expect(resolve({ NODE_ENV: 'production', HSMP_DEPLOYMENT: 'development' })).toEqual({ kind: 'development' });
    expect(() => resolve({ HSMP_DEPLOYMENT: 'development', HSMP_TRUSTSTORE: __filename })).toThrow(/^HSMP_DEPLOYMENT: development, but HSMP_TRUSTSTORE is set/);
    expect(() => resolve({ HSMP_DEPLOYMENT: 'staging' })).toThrow(/^HSMP_DEPLOYMENT: expected production or development/);
  });

  it('refuses a file that is not there and a URL that is not https', () => {
    expect(() => resolve({ ...production, HSMP_TLS_CERT: '/nonexistent/cert.pem' })).toThrow(/^HSMP_TLS_CERT: file not found/);
    expect(() => resolve({ ...production, HSMP_SML_URL_TEST: 'http://sml.example' })).toThrow(/^HSMP_SML_URL_TEST: expected an https:\/\/ URL/);
  });
});
