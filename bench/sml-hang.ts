import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { devPkiPaths, generateDevPki } from '../src/dev/dev-pki';
import { datasetNumbers } from '../src/participants/datasets';
import { startSilentServer } from '../test/support/silent-server';

/**
 * How long SML calls take to fail when the SML accepts TCP and never finishes the TLS
 * handshake, with HSMP_SML_TIMEOUT_MS at 2 s: one call alone, then 20 at once (more than the
 * client's 8 connections). Side by side in one run: this build's SmlClient and, when
 * `HSMP_BENCH_BEFORE_DIST` names another build's dist/ directory, that build's.
 *   npm run build && HSMP_BENCH_BEFORE_DIST=/path/to/old/dist node dist/bench/sml-hang.js
 */
const TIMEOUT_MS = 2000;
const CONCURRENT = 20;

interface ClientModule {
  SmlClient: new (
    endpoint: { url: string; cert: Buffer; key: Buffer; ca: Buffer },
    options: { timeoutMs: number },
  ) => {
    prepareToMigrate(record: { smpId: string; participant: string; migrationKey: string }): Promise<void>;
    close(): Promise<void>;
  };
}

async function failureTimes(module: ClientModule, url: string, pkiDir: string, count: number): Promise<number[]> {
  const pki = devPkiPaths(pkiDir);
  const client = new module.SmlClient(
    { url, cert: readFileSync(pki.clientCert('smp-test')), key: readFileSync(pki.clientKey('smp-test')), ca: readFileSync(pki.serverCa) },
    { timeoutMs: TIMEOUT_MS },
  );
  const numbers = datasetNumbers(1)[1];
  const times = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const started = performance.now();
      await client.prepareToMigrate({ smpId: 'HERMES-SMP', participant: `0208:${numbers[i % numbers.length]}`, migrationKey: 'k' }).catch(() => undefined);
      return (performance.now() - started) / 1000;
    }),
  );
  void client.close();
  return times.sort((a, b) => a - b);
}

function summary(times: number[]): string {
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
  return `p50 ${at(0.5)} s, p90 ${at(0.9)} s, max ${times[times.length - 1].toFixed(1)} s`;
}

async function main(): Promise<void> {
  const pkiDir = mkdtempSync(path.join(os.tmpdir(), 'hsmp-bench-pki-'));
  await generateDevPki({ dir: pkiDir, revocationBaseUrl: 'http://127.0.0.1:9' });
  const silent = await startSilentServer();
  const url = `https://127.0.0.1:${silent.port}/manageparticipantidentifier`;
  const sides: Array<[string, string]> = [['this build', path.resolve(__dirname, '..', 'src', 'sml', 'client.js')]];
  if (process.env.HSMP_BENCH_BEFORE_DIST) sides.unshift(['before', path.resolve(process.env.HSMP_BENCH_BEFORE_DIST, 'src', 'sml', 'client.js')]);
  console.log(`SML that never finishes TLS, HSMP_SML_TIMEOUT_MS=${TIMEOUT_MS}`);
  try {
    for (const [name, file] of sides) {
      const module = (await import(file)) as ClientModule;
      const one = await failureTimes(module, url, pkiDir, 1);
      const many = await failureTimes(module, url, pkiDir, CONCURRENT);
      console.log(`${name.padEnd(10)}  1 call: ${one[0].toFixed(1)} s   ${CONCURRENT} at once: ${summary(many)}`);
    }
  } finally {
    await silent.close();
    rmSync(pkiDir, { recursive: true, force: true });
  }
}

void main();
