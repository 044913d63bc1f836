import { existsSync } from 'node:fs';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { ENVIRONMENTS, type Environment } from '../domain/environment';
import { ConfigError } from '../domain/errors';
import type { RevocationMode, RevocationSource } from '../domain/revocation-mode';

/**
 * Configuration from environment variables (SPEC §8), validated once at start-up.
 * A bad value is a ConfigError with a one-line reason naming the variable; main() prints it
 * and exits 1.
 */
export { ConfigError };

export interface AdminOperator {
  name: string;
  tokenSha256: Buffer;
}

export interface Config {
  host: string;
  port: number;
  /** Absent: the development PKI provides the server certificate. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Absent: the development PKI's manifest. */
  trustStoreManifest?: string;
  environment: Environment;
  environments: Environment[];
  smpId: string;
  limits: { userDaily: number; ipDaily: number; globalDaily: number };
  revocation: { mode: RevocationMode; order: RevocationSource[]; timeoutMs: number; maxCacheSeconds: number };
  trustedProxies: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
  clientCertHeader: string;
  adminHost: string;
  adminPort: number;
  adminOperators: AdminOperator[];
  dataDir: string;
  /** 32 bytes, hex or base64; absent: generated into dataDir (one instance). */
  keyEncryptionKey?: Buffer;
  databaseUrl?: string;
  /** Connections to DATABASE_URL per instance (the embedded database always has one). */
  databasePoolSize: number;
  redisUrl?: string;
  /** Prefix of every Redis key, so that several deployments can share one Redis. */
  redisPrefix: string;
  /** A CBE import that would deactivate more than this share of the active registry needs --force. */
  importMaxDeactivateShare: number;
  importMaxBytes: number;
  devPkiDir: string;
  devRevocationPort: number;
  logLevel: string;
  /** Worker processes sharing the listeners (Node's cluster module). */
  workers: number;
  sml: SmlConfig;
  devSmlPort: number;
  /** Connections each listener holds at most (public, admin); Node drops the ones beyond. */
  maxConnections: { public: number; admin: number };
  /** A TLS handshake not finished in this time is dropped (Node's default is 120 s). */
  tlsHandshakeTimeoutMs: number;
  /** The public listener's limits on one client (see docs/deployment/public-listener-limits.md). */
  publicLimits: PublicListenerLimits;
  /** Refusals waiting for the collection log at most; beyond, a refusal is answered 503. */
  refusalLogMaxPending: number;
  /** Collection-log days older than this are dropped (SPEC §5). */
  logRetentionDays: number;
  /** Added to every answer of the development SML (benchmarks, tests). */
  devSmlDelayMs: number;
  /** A job whose instance has not renewed its lease for this long is abandoned (its instance died). */
  jobLeaseSeconds: number;
}

export interface PublicListenerLimits {
  /** Connections from one client address at a time (trusted proxies exempt). */
  maxConnectionsPerIp: number;
  /** After the handshake, until a request's headers are in. */
  headersTimeoutMs: number;
  /** A whole request, headers and body. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection. */
  keepAliveTimeoutMs: number;
}

/** SPEC §8 / §9: each environment's SML and the SMP certificate hsmp presents to it. */
export interface SmlConfig {
  enabled: boolean;
  endpoints: Partial<Record<Environment, { url?: string; certFile?: string; keyFile?: string }>>;
  caFile?: string;
  timeoutMs: number;
  /** Calls waiting for one environment's SML at most; beyond, a call fails at once (503). */
  maxInFlight: number;
  /** 0: only on demand. */
  reconcileIntervalSeconds: number;
  reconcileMaxShare: number;
  /** The hours over which the reconciliation's share valve adds up what unforced runs marked. */
  reconcileWindowHours: number;
  /** SML calls in flight during a bulk preparation. */
  prepareConcurrency: number;
  /** HSMP_KEY_MAX_AGE_DAYS: a key first handed out longer ago is replaced at its next collection; 0: never. */
  keyMaxAgeDays: number;
}

const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a port number' })
    .int('expected a whole port number')
    .min(0, 'expected a port number 0-65535')
    .max(65535, 'expected a port number 0-65535')
    .default(fallback);

const positiveInt = (fallback: number) =>
  z.coerce.number({ error: 'expected a whole number' }).int('expected a whole number').positive('expected a number above 0').default(fallback);

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const existingFile = optionalText.refine((v) => v === undefined || existsSync(v), { error: 'file not found' });

const environment = z.enum(ENVIRONMENTS, { error: `expected one of ${ENVIRONMENTS.join(', ')}` });

const list = <T extends z.ZodType>(item: T) =>
  optionalText.transform((v, ctx) => {
    const parsed: z.infer<T>[] = [];
    for (const part of (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const result = item.safeParse(part);
      if (!result.success) {
        ctx.addIssue({ code: 'custom', message: `"${part}": ${result.error.issues[0]?.message}` });
        return z.NEVER;
      }
      parsed.push(result.data);
    }
    return parsed;
  });

const cidr = z.string().transform((value, ctx) => {
  try {
    return value.includes('/')
      ? ipaddr.parseCIDR(value)
      : ([ipaddr.parse(value), ipaddr.parse(value).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected an IP address or CIDR' });
    return z.NEVER;
  }
});

const operator = z.string().transform((value, ctx) => {
  const match = /^([A-Za-z0-9._@-]{1,64}):([0-9a-fA-F]{64})$/.exec(value);
  if (!match) {
    ctx.addIssue({ code: 'custom', message: 'expected name:sha256-hex-of-token' });
    return z.NEVER;
  }
  return { name: match[1], tokenSha256: Buffer.from(match[2], 'hex') } satisfies AdminOperator;
});

const revocationSource = z.enum(['ocsp', 'crl'], { error: 'expected ocsp or crl' });

const schema = z.object({
  HSMP_HOST: z.string().default('0.0.0.0'),
  HSMP_PORT: port(8443),
  HSMP_TLS_CERT: existingFile,
  HSMP_TLS_KEY: existingFile,
  HSMP_TRUSTSTORE: existingFile,
  HSMP_ENVIRONMENT: environment.default('test'),
  HSMP_ENVIRONMENTS: list(environment),
  HSMP_SMP_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 letters, digits, dot, dash or underscore')
    .default('HERMES-SMP'),
  HSMP_LIMIT_USER_DAILY: positiveInt(1000),
  HSMP_LIMIT_IP_DAILY: positiveInt(5000),
  HSMP_LIMIT_GLOBAL_DAILY: positiveInt(100000),
  HSMP_REVOCATION: z.enum(['off', 'soft', 'hard'], { error: 'expected off, soft or hard' }).default('soft'),
  HSMP_REVOCATION_ORDER: list(revocationSource),
  HSMP_REVOCATION_TIMEOUT_MS: positiveInt(3000),
  HSMP_REVOCATION_MAX_CACHE_SECONDS: positiveInt(3600),
  HSMP_TRUSTED_PROXIES: list(cidr),
  HSMP_CLIENT_CERT_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'expected an HTTP header name')
    .default('X-SSL-Client-Cert'),
  HSMP_ADMIN_HOST: z.string().default('127.0.0.1'),
  HSMP_ADMIN_PORT: port(9090),
  HSMP_ADMIN_TOKENS: list(operator),
  HSMP_DATA_DIR: z.string().default('./data'),
  HSMP_KEY_ENCRYPTION_KEY: optionalText.transform((v, ctx) => {
    if (v === undefined) return undefined;
    const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
    if (key.length === 32) return key;
    ctx.addIssue({ code: 'custom', message: 'expected 32 bytes as 64 hex characters or base64' });
    return z.NEVER;
  }),
  DATABASE_URL: optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), { error: 'expected a postgres:// URL' }),
  HSMP_DB_POOL_SIZE: positiveInt(10),
  REDIS_URL: optionalText.refine((v) => v === undefined || /^rediss?:\/\//.test(v), { error: 'expected a redis:// URL' }),
  HSMP_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'expected 1-64 letters, digits, colon, dash or underscore')
    .default('hsmp'),
  HSMP_IMPORT_MAX_DEACTIVATE_SHARE: z.coerce
    .number({ error: 'expected a share between 0 and 1' })
    .min(0, 'expected a share between 0 and 1')
    .max(1, 'expected a share between 0 and 1')
    .default(0.05),
  // The CBE enterprise.csv is ~110 MB for 2 million rows: 5 times that leaves room to grow.
  HSMP_IMPORT_MAX_BYTES: positiveInt(512 * 1024 * 1024),
  HSMP_DEV_PKI_DIR: z.string().default('./certs/dev'),
  HSMP_DEV_REVOCATION_PORT: port(8889),
  HSMP_WORKERS: positiveInt(1),
  HSMP_SML: z.enum(['on', 'off'], { error: 'expected on or off' }).default('on'),
  HSMP_SML_URL_TEST: optionalText.refine((v) => v === undefined || /^https:\/\//.test(v), { error: 'expected an https:// URL' }),
  HSMP_SML_URL_PRODUCTION: optionalText.refine((v) => v === undefined || /^https:\/\//.test(v), { error: 'expected an https:// URL' }),
  HSMP_SML_CERT_TEST: existingFile,
  HSMP_SML_KEY_TEST: existingFile,
  HSMP_SML_CERT_PRODUCTION: existingFile,
  HSMP_SML_KEY_PRODUCTION: existingFile,
  HSMP_SML_CA: existingFile,
  HSMP_SML_TIMEOUT_MS: positiveInt(10_000),
  HSMP_SML_MAX_IN_FLIGHT: positiveInt(64),
  HSMP_SML_RECONCILE_INTERVAL: z.coerce
    .number({ error: 'expected a whole number of seconds' })
    .int('expected a whole number of seconds')
    .min(0, 'expected 0 or more seconds')
    .default(3600),
  HSMP_SML_RECONCILE_MAX_SHARE: z.coerce
    .number({ error: 'expected a share between 0 and 1' })
    .min(0, 'expected a share between 0 and 1')
    .max(1, 'expected a share between 0 and 1')
    .default(0.1),
  HSMP_SML_RECONCILE_WINDOW_HOURS: positiveInt(24),
  HSMP_KEY_MAX_AGE_DAYS: z.coerce
    .number({ error: 'expected a whole number of days' })
    .int('expected a whole number of days')
    .min(0, 'expected 0 (never) or more days')
    .default(0),
  HSMP_SML_PREPARE_CONCURRENCY: positiveInt(4).refine((n) => n <= 64, { error: 'expected at most 64 calls in flight' }),
  HSMP_JOB_LEASE_SECONDS: positiveInt(30),
  HSMP_DEV_SML_PORT: port(8890),
  HSMP_REFUSAL_LOG_MAX_PENDING: positiveInt(10_000),
  HSMP_LOG_RETENTION_DAYS: positiveInt(400),
  // Below a common 1024 open-file limit, with room for the admin listener, pools and files.
  HSMP_MAX_CONNECTIONS: positiveInt(900),
  HSMP_ADMIN_MAX_CONNECTIONS: positiveInt(64),
  HSMP_TLS_HANDSHAKE_TIMEOUT_MS: positiveInt(10_000),
  HSMP_MAX_CONNECTIONS_PER_IP: positiveInt(100),
  HSMP_HEADERS_TIMEOUT_MS: positiveInt(5_000),
  HSMP_REQUEST_TIMEOUT_MS: positiveInt(10_000),
  HSMP_KEEP_ALIVE_TIMEOUT_MS: positiveInt(5_000),
  HSMP_DEV_SML_DELAY_MS: z.coerce
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(0, 'expected 0 or more milliseconds')
    .default(0),
  HSMP_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue.path[0] ?? 'configuration');
    const given = env[variable];
    throw new ConfigError(`${variable}: ${issue.message}${given === undefined ? '' : ` (got "${given}")`}`);
  }
  const e = result.data;
  if ((e.HSMP_TLS_CERT === undefined) !== (e.HSMP_TLS_KEY === undefined)) {
    throw new ConfigError('HSMP_TLS_CERT and HSMP_TLS_KEY: set both or neither');
  }
  if (e.HSMP_WORKERS > 1 && !e.REDIS_URL)
    throw new ConfigError('HSMP_WORKERS: more than one worker needs REDIS_URL (in-memory counters belong to one process)');
  if (e.HSMP_WORKERS > 1 && !e.DATABASE_URL)
    throw new ConfigError('HSMP_WORKERS: more than one worker needs DATABASE_URL (the embedded database belongs to one process)');
  const environments = e.HSMP_ENVIRONMENTS.length > 0 ? [...new Set(e.HSMP_ENVIRONMENTS)] : [e.HSMP_ENVIRONMENT];
  if (!environments.includes(e.HSMP_ENVIRONMENT)) {
    throw new ConfigError(`HSMP_ENVIRONMENTS: must include HSMP_ENVIRONMENT (${e.HSMP_ENVIRONMENT})`);
  }
  // Replacing a key means preparing the new one at the SML: with HSMP_SML=off another system does that.
  if (e.HSMP_KEY_MAX_AGE_DAYS > 0 && e.HSMP_SML === 'off')
    throw new ConfigError('HSMP_KEY_MAX_AGE_DAYS: rotation prepares new keys at the SML, which HSMP_SML=off does not talk to');
  return {
    host: e.HSMP_HOST,
    port: e.HSMP_PORT,
    tlsCertFile: e.HSMP_TLS_CERT,
    tlsKeyFile: e.HSMP_TLS_KEY,
    trustStoreManifest: e.HSMP_TRUSTSTORE,
    environment: e.HSMP_ENVIRONMENT,
    environments,
    smpId: e.HSMP_SMP_ID,
    limits: { userDaily: e.HSMP_LIMIT_USER_DAILY, ipDaily: e.HSMP_LIMIT_IP_DAILY, globalDaily: e.HSMP_LIMIT_GLOBAL_DAILY },
    revocation: {
      mode: e.HSMP_REVOCATION,
      order: e.HSMP_REVOCATION_ORDER.length > 0 ? [...new Set(e.HSMP_REVOCATION_ORDER)] : ['ocsp', 'crl'],
      timeoutMs: e.HSMP_REVOCATION_TIMEOUT_MS,
      maxCacheSeconds: e.HSMP_REVOCATION_MAX_CACHE_SECONDS,
    },
    trustedProxies: e.HSMP_TRUSTED_PROXIES,
    clientCertHeader: e.HSMP_CLIENT_CERT_HEADER.toLowerCase(),
    adminHost: e.HSMP_ADMIN_HOST,
    adminPort: e.HSMP_ADMIN_PORT,
    adminOperators: e.HSMP_ADMIN_TOKENS,
    dataDir: path.resolve(e.HSMP_DATA_DIR),
    keyEncryptionKey: e.HSMP_KEY_ENCRYPTION_KEY,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.HSMP_DB_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.HSMP_REDIS_PREFIX,
    importMaxDeactivateShare: e.HSMP_IMPORT_MAX_DEACTIVATE_SHARE,
    importMaxBytes: e.HSMP_IMPORT_MAX_BYTES,
    devPkiDir: path.resolve(e.HSMP_DEV_PKI_DIR),
    devRevocationPort: e.HSMP_DEV_REVOCATION_PORT,
    logLevel: e.HSMP_LOG_LEVEL,
    workers: e.HSMP_WORKERS,
    sml: {
      enabled: e.HSMP_SML === 'on',
      endpoints: {
        test: { url: e.HSMP_SML_URL_TEST, certFile: e.HSMP_SML_CERT_TEST, keyFile: e.HSMP_SML_KEY_TEST },
        production: { url: e.HSMP_SML_URL_PRODUCTION, certFile: e.HSMP_SML_CERT_PRODUCTION, keyFile: e.HSMP_SML_KEY_PRODUCTION },
      },
      caFile: e.HSMP_SML_CA,
      timeoutMs: e.HSMP_SML_TIMEOUT_MS,
      maxInFlight: e.HSMP_SML_MAX_IN_FLIGHT,
      reconcileIntervalSeconds: e.HSMP_SML_RECONCILE_INTERVAL,
      reconcileMaxShare: e.HSMP_SML_RECONCILE_MAX_SHARE,
      reconcileWindowHours: e.HSMP_SML_RECONCILE_WINDOW_HOURS,
      prepareConcurrency: e.HSMP_SML_PREPARE_CONCURRENCY,
      keyMaxAgeDays: e.HSMP_KEY_MAX_AGE_DAYS,
    },
    devSmlPort: e.HSMP_DEV_SML_PORT,
    refusalLogMaxPending: e.HSMP_REFUSAL_LOG_MAX_PENDING,
    logRetentionDays: e.HSMP_LOG_RETENTION_DAYS,
    maxConnections: { public: e.HSMP_MAX_CONNECTIONS, admin: e.HSMP_ADMIN_MAX_CONNECTIONS },
    tlsHandshakeTimeoutMs: e.HSMP_TLS_HANDSHAKE_TIMEOUT_MS,
    publicLimits: {
      maxConnectionsPerIp: e.HSMP_MAX_CONNECTIONS_PER_IP,
      headersTimeoutMs: e.HSMP_HEADERS_TIMEOUT_MS,
      // Node refuses a headers timeout longer than the request timeout.
      requestTimeoutMs: Math.max(e.HSMP_REQUEST_TIMEOUT_MS, e.HSMP_HEADERS_TIMEOUT_MS),
      keepAliveTimeoutMs: e.HSMP_KEEP_ALIVE_TIMEOUT_MS,
    },
    devSmlDelayMs: e.HSMP_DEV_SML_DELAY_MS,
    jobLeaseSeconds: e.HSMP_JOB_LEASE_SECONDS,
  };
}

/**
 * The SML endpoint of every served environment, or a ConfigError naming what is missing
 * (SPEC §8: with HSMP_SML=on, a served environment without its SML URL and certificate refuses
 * to start). `fallback` fills what is not configured: the development SML of a dev-PKI
 * deployment. Undefined when HSMP_SML=off.
 */
export function resolveSmlEndpoints(
  config: Config,
  fallback?: (environment: Environment) => { url: string; certFile: string; keyFile: string; caFile: string },
): Map<Environment, { url: string; certFile: string; keyFile: string; caFile?: string }> | undefined {
  if (!config.sml.enabled) return undefined;
  const resolved = new Map<Environment, { url: string; certFile: string; keyFile: string; caFile?: string }>();
  for (const environment of config.environments) {
    const given = config.sml.endpoints[environment] ?? {};
    const suffix = environment.toUpperCase();
    if (!given.url && !given.certFile && !given.keyFile && fallback) {
      resolved.set(environment, fallback(environment));
      continue;
    }
    const { url, certFile, keyFile } = given;
    if (!url || !certFile || !keyFile) {
      const missing = [!url && `HSMP_SML_URL_${suffix}`, !certFile && `HSMP_SML_CERT_${suffix}`, !keyFile && `HSMP_SML_KEY_${suffix}`].filter(Boolean);
      throw new ConfigError(
        `${missing.join(', ')}: HSMP_SML=on and the ${environment} environment is served, so its SML URL, certificate and key are needed (or HSMP_SML=off)`,
      );
    }
    resolved.set(environment, { url, certFile, keyFile, caFile: config.sml.caFile });
  }
  return resolved;
}
