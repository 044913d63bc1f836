import path from 'node:path';
import { z } from 'zod';
import { ENVIRONMENTS } from '../domain/environment';
import { ConfigError } from '../domain/errors';
import { cidr, list, nonNegativeInt, optionalText, port, positiveInt, settings, share } from './settings';

/**
 * Configuration from environment variables (SPEC §8), validated once at start-up: one schema
 * per concern, whose parsed output is the slice its consumer is handed. A bad value is a
 * ConfigError with a one-line reason naming the variable; main() prints it and exits 1.
 * Where the certificates and the SML are (the deployment) is resolved in ./deployment.
 */
export { ConfigError };

const environment = z.enum(ENVIRONMENTS, { error: `expected one of ${ENVIRONMENTS.join(', ')}` });

const operator = z.string().transform((value, ctx) => {
  const match = /^([A-Za-z0-9._@-]{1,64}):([0-9a-fA-F]{64})$/.exec(value);
  if (!match) {
    ctx.addIssue({ code: 'custom', message: 'expected name:sha256-hex-of-token' });
    return z.NEVER;
  }
  return { name: match[1], tokenSha256: Buffer.from(match[2], 'hex') };
});

export type AdminOperator = z.output<typeof operator>;

const keyEncryptionKey = optionalText.transform((v, ctx) => {
  if (v === undefined) return undefined;
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length === 32) return key;
  ctx.addIssue({ code: 'custom', message: 'expected 32 bytes as 64 hex characters or base64' });
  return z.NEVER;
});

/** Which environments this deployment serves and the SMP id it is known by in the SML. */
const readPeppol = settings({
  environment: ['HSMP_ENVIRONMENT', environment.default('test')],
  environments: ['HSMP_ENVIRONMENTS', list(environment)],
  smpId: [
    'HSMP_SMP_ID',
    z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 letters, digits, dot, dash or underscore')
      .default('HERMES-SMP'),
  ],
});

/** The public listener: where, how many connections, how long a handshake may take. */
const readPublicListener = settings({
  host: ['HSMP_HOST', z.string().default('0.0.0.0')],
  port: ['HSMP_PORT', port(8443)],
  // Below a common 1024 open-file limit, with room for the admin listener, pools and files.
  maxConnections: ['HSMP_MAX_CONNECTIONS', positiveInt(900)],
  handshakeTimeoutMs: ['HSMP_TLS_HANDSHAKE_TIMEOUT_MS', positiveInt(10_000)],
  // The limits on one client (see docs/deployment/public-listener-limits.md).
  /** Connections from one client address at a time (trusted proxies exempt). */
  maxConnectionsPerIp: ['HSMP_MAX_CONNECTIONS_PER_IP', positiveInt(100)],
  /** After the handshake, until a request's headers are in. */
  headersTimeoutMs: ['HSMP_HEADERS_TIMEOUT_MS', positiveInt(5_000)],
  /** A whole request, headers and body. */
  requestTimeoutMs: ['HSMP_REQUEST_TIMEOUT_MS', positiveInt(10_000)],
  /** An idle kept-alive connection. */
  keepAliveTimeoutMs: ['HSMP_KEEP_ALIVE_TIMEOUT_MS', positiveInt(5_000)],
});

/** Client certificates: revocation checking, and the proxies allowed to pass one in a header. */
const readTls = settings({
  revocation: {
    mode: ['HSMP_REVOCATION', z.enum(['off', 'soft', 'hard'], { error: 'expected off, soft or hard' }).default('soft')],
    order: ['HSMP_REVOCATION_ORDER', list(z.enum(['ocsp', 'crl'], { error: 'expected ocsp or crl' }))],
    timeoutMs: ['HSMP_REVOCATION_TIMEOUT_MS', positiveInt(3000)],
    maxCacheSeconds: ['HSMP_REVOCATION_MAX_CACHE_SECONDS', positiveInt(3600)],
  },
  trustedProxies: ['HSMP_TRUSTED_PROXIES', list(cidr)],
  clientCertHeader: [
    'HSMP_CLIENT_CERT_HEADER',
    z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'expected an HTTP header name')
      .default('X-SSL-Client-Cert')
      .transform((name) => name.toLowerCase()),
  ],
});

const readQuota = settings({
  limits: {
    userDaily: ['HSMP_LIMIT_USER_DAILY', positiveInt(1000)],
    ipDaily: ['HSMP_LIMIT_IP_DAILY', positiveInt(5000)],
    globalDaily: ['HSMP_LIMIT_GLOBAL_DAILY', positiveInt(100000)],
  },
  redisUrl: ['REDIS_URL', optionalText.refine((v) => v === undefined || /^rediss?:\/\//.test(v), { error: 'expected a redis:// URL' })],
  /** Prefix of every Redis key, so that several deployments can share one Redis. */
  redisPrefix: [
    'HSMP_REDIS_PREFIX',
    z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, 'expected 1-64 letters, digits, colon, dash or underscore')
      .default('hsmp'),
  ],
});

const readAdmin = settings({
  host: ['HSMP_ADMIN_HOST', z.string().default('127.0.0.1')],
  port: ['HSMP_ADMIN_PORT', port(9090)],
  operators: ['HSMP_ADMIN_TOKENS', list(operator)],
  maxConnections: ['HSMP_ADMIN_MAX_CONNECTIONS', positiveInt(64)],
});

const readStore = settings({
  dataDir: [
    'HSMP_DATA_DIR',
    z
      .string()
      .default('./data')
      .transform((dir) => path.resolve(dir)),
  ],
  /** 32 bytes, hex or base64; absent: generated into dataDir (one instance). */
  keyEncryptionKey: ['HSMP_KEY_ENCRYPTION_KEY', keyEncryptionKey],
  databaseUrl: ['DATABASE_URL', optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), { error: 'expected a postgres:// URL' })],
  /** Connections to DATABASE_URL per instance (the embedded database always has one). */
  poolSize: ['HSMP_DB_POOL_SIZE', positiveInt(10)],
});

/** The collection log: refusals waiting for it at most (beyond, a refusal is answered 503), and how long it is kept. */
const readCollectionLog = settings({
  maxPendingRefusals: ['HSMP_REFUSAL_LOG_MAX_PENDING', positiveInt(10_000)],
  /** Collection-log days older than this are dropped (SPEC §5). */
  retentionDays: ['HSMP_LOG_RETENTION_DAYS', positiveInt(400)],
});

/** The SML's behaviour (SPEC §8 / §9); its endpoints are the deployment's (./deployment). */
const readSml = settings({
  enabled: [
    'HSMP_SML',
    z
      .enum(['on', 'off'], { error: 'expected on or off' })
      .default('on')
      .transform((v) => v === 'on'),
  ],
  timeoutMs: ['HSMP_SML_TIMEOUT_MS', positiveInt(10_000)],
  /** Calls waiting for one environment's SML at most; beyond, a call fails at once (503). */
  maxInFlight: ['HSMP_SML_MAX_IN_FLIGHT', positiveInt(64)],
  /** 0: only on demand. */
  reconcileIntervalSeconds: ['HSMP_SML_RECONCILE_INTERVAL', nonNegativeInt(3600, 'seconds')],
  reconcileMaxShare: ['HSMP_SML_RECONCILE_MAX_SHARE', share(0.1)],
  /** The hours over which the reconciliation's share valve adds up what unforced runs marked. */
  reconcileWindowHours: ['HSMP_SML_RECONCILE_WINDOW_HOURS', positiveInt(24)],
  /** SML calls in flight during a bulk preparation. */
  prepareConcurrency: ['HSMP_SML_PREPARE_CONCURRENCY', positiveInt(4).refine((n) => n <= 64, { error: 'expected at most 64 calls in flight' })],
  /** A key first handed out longer ago than this is replaced at its next collection (SPEC §9); 0: never. */
  keyMaxAgeDays: ['HSMP_KEY_MAX_AGE_DAYS', nonNegativeInt(0, 'days')],
});

/** Server-side jobs: one whose instance has not renewed its lease for this long is abandoned (its instance died). */
const readJobs = settings({
  leaseSeconds: ['HSMP_JOB_LEASE_SECONDS', positiveInt(30)],
});

/** The CBE import: a run that would deactivate more than this share of the registry needs --force. */
const readImports = settings({
  maxDeactivateShare: ['HSMP_IMPORT_MAX_DEACTIVATE_SHARE', share(0.05)],
  // The CBE enterprise.csv is ~110 MB for 2 million rows: 5 times that leaves room to grow.
  maxBytes: ['HSMP_IMPORT_MAX_BYTES', positiveInt(512 * 1024 * 1024)],
});

const readLog = settings({
  level: ['HSMP_LOG_LEVEL', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')],
});

/** Worker processes sharing the listeners (Node's cluster module). */
const readCluster = settings({
  workers: ['HSMP_WORKERS', positiveInt(1)],
});

export type PeppolSettings = ReturnType<typeof peppolSettings>;
export type PublicListenerSettings = ReturnType<typeof publicListenerSettings>;
export type TlsSettings = ReturnType<typeof tlsSettings>;
export type QuotaSettings = ReturnType<typeof readQuota>;
export type AdminSettings = ReturnType<typeof readAdmin>;
export type StoreSettings = ReturnType<typeof readStore>;
export type CollectionLogSettings = ReturnType<typeof readCollectionLog>;
export type SmlSettings = ReturnType<typeof readSml>;
export type ImportSettings = ReturnType<typeof readImports>;

function peppolSettings(env: NodeJS.ProcessEnv) {
  const read = readPeppol(env);
  const environments = read.environments.length > 0 ? [...new Set(read.environments)] : [read.environment];
  if (!environments.includes(read.environment)) {
    throw new ConfigError(`HSMP_ENVIRONMENTS: must include HSMP_ENVIRONMENT (${read.environment})`);
  }
  return { ...read, environments };
}

function publicListenerSettings(env: NodeJS.ProcessEnv) {
  const read = readPublicListener(env);
  // Node refuses a headers timeout longer than the request timeout.
  return { ...read, requestTimeoutMs: Math.max(read.requestTimeoutMs, read.headersTimeoutMs) };
}

function tlsSettings(env: NodeJS.ProcessEnv) {
  const read = readTls(env);
  const order = read.revocation.order.length > 0 ? [...new Set(read.revocation.order)] : (['ocsp', 'crl'] as const);
  return { ...read, revocation: { ...read.revocation, order: [...order] } };
}

/** Every variable the production configuration reads (besides the deployment's, in ./deployment). */
export const CONFIG_VARIABLES = [
  readPeppol,
  readPublicListener,
  readTls,
  readQuota,
  readAdmin,
  readStore,
  readCollectionLog,
  readSml,
  readJobs,
  readImports,
  readLog,
  readCluster,
].flatMap((reader) => reader.variables);

export function loadConfig(env: NodeJS.ProcessEnv) {
  const config = {
    peppol: peppolSettings(env),
    publicListener: publicListenerSettings(env),
    tls: tlsSettings(env),
    quota: readQuota(env),
    admin: readAdmin(env),
    store: readStore(env),
    collectionLog: readCollectionLog(env),
    sml: readSml(env),
    jobs: readJobs(env),
    imports: readImports(env),
    log: readLog(env),
    cluster: readCluster(env),
  };
  if (config.cluster.workers > 1 && !config.quota.redisUrl)
    throw new ConfigError('HSMP_WORKERS: more than one worker needs REDIS_URL (in-memory counters belong to one process)');
  if (config.cluster.workers > 1 && !config.store.databaseUrl)
    throw new ConfigError('HSMP_WORKERS: more than one worker needs DATABASE_URL (the embedded database belongs to one process)');
  // Replacing a key means preparing the new one at the SML: with HSMP_SML=off another system does that.
  if (config.sml.keyMaxAgeDays > 0 && !config.sml.enabled)
    throw new ConfigError('HSMP_KEY_MAX_AGE_DAYS: rotation prepares new keys at the SML, which HSMP_SML=off does not talk to');
  return config;
}

export type Config = ReturnType<typeof loadConfig>;
