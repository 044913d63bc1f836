import client from 'prom-client';
import type { Environment } from '../domain/environment';
import type { SmlHealth } from '../sml/preparer';
import type { SmlCallObserver } from '../sml/client';

/** Prometheus metrics of one service instance (a registry of its own, so tests can run several). */
export interface Metrics {
  registry: client.Registry;
  observe: (code: string, seconds: number) => void;
  certificateCache: (hit: boolean) => void;
  /** Where the blocks-in-force gauge reads its value, once the quota policy exists. */
  watchBlocks: (count: () => number) => void;
  smlCall: SmlCallObserver;
  dependencyUnavailable: (dependency: string) => void;
  /** Collection-log rows given up on (refused by PostgreSQL alone, or left at shutdown). */
  collectionLogLost: (count: number) => void;
  /** Where the SML deployment gauge reads its value. */
  watchSml: (health: SmlHealth, environments: Environment[]) => void;
}

export function createMetrics(): Metrics {
  let blocksInForce = () => 0;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new client.Counter({
    name: 'hsmp_migration_key_requests_total',
    help: 'Migration key requests by outcome code (200 or HSMP-xxx)',
    labelNames: ['code'],
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: 'hsmp_migration_key_request_seconds',
    help: 'Time to answer a migration key request',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'hsmp_blocks_in_force',
    help: 'Users, IPs and global locks blocked until an operator reactivates them',
    registers: [registry],
    collect() {
      this.set(blocksInForce());
    },
  });
  const certificateCache = new client.Counter({
    name: 'hsmp_certificate_cache_total',
    help: 'Client certificate analyses (parse, chain, role) served from the cache or worked out',
    labelNames: ['result'],
    registers: [registry],
  });
  const smlRequests = new client.Counter({
    name: 'hsmp_sml_requests_total',
    help: 'Calls of the SML participant service by operation and outcome (ok, fault_<kind>, timeout, network, protocol)',
    labelNames: ['operation', 'outcome'],
    registers: [registry],
  });
  const smlLatency = new client.Histogram({
    name: 'hsmp_sml_request_seconds',
    help: 'Time of one SML call, answered or not',
    labelNames: ['operation'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  let smlStates: () => Array<[Environment, boolean | undefined]> = () => [];
  new client.Gauge({
    name: 'hsmp_sml_deployment_ok',
    help: 'Per environment: 1 while the SML accepts this SMP (id and certificate), 0 once it refused them; absent before the first call',
    labelNames: ['environment'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [environment, ok] of smlStates()) if (ok !== undefined) this.set({ environment }, ok ? 1 : 0);
    },
  });
  const logLost = new client.Counter({
    name: 'hsmp_collection_log_lost_total',
    help: 'Collection-log rows given up on: refused by PostgreSQL on their own, or still queued at shutdown',
    registers: [registry],
  });
  const unavailable = new client.Counter({
    name: 'hsmp_dependency_unavailable_total',
    help: 'Requests answered 503 because a dependency (database, redis, SML, collection log, revocation responder) was unavailable',
    labelNames: ['dependency'],
    registers: [registry],
  });
  return {
    registry,
    dependencyUnavailable: (dependency) => {
      unavailable.inc({ dependency });
    },
    collectionLogLost: (count) => {
      logLost.inc(count);
    },
    smlCall: (operation, outcome, seconds) => {
      smlRequests.inc({ operation, outcome });
      smlLatency.observe({ operation }, seconds);
    },
    watchSml: (health, environments) => {
      smlStates = () => environments.map((e) => [e, health.state(e).deploymentOk]);
    },
    observe: (code, seconds) => {
      requests.inc({ code });
      latency.observe(seconds);
    },
    certificateCache: (hit) => {
      certificateCache.inc({ result: hit ? 'hit' : 'miss' });
    },
    watchBlocks: (count) => {
      blocksInForce = count;
    },
  };
}
