import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { devPkiPaths, type ClientCase, type DevPkiPaths } from '../../src/pki/dev-pki';

/** The run's development PKI (made by global-setup) and TLS clients holding its certificates. */
export function testPki(): DevPkiPaths {
  const dir = process.env.HSMP_TEST_PKI_DIR;
  if (!dir) throw new Error('HSMP_TEST_PKI_DIR is not set: run the tests through jest (global-setup makes the PKI)');
  return devPkiPaths(dir);
}

const agents = new Map<string, Agent>();

/** An undici dispatcher making real TLS handshakes with the given client certificate (or none). */
export function clientAgent(certificate: ClientCase | 'none', options: { keepAlive?: boolean } = {}): Agent {
  const key = `${certificate}/${options.keepAlive ?? true}`;
  let agent = agents.get(key);
  if (!agent) {
    const pki = testPki();
    agent = new Agent({
      connect: {
        ca: readFileSync(pki.serverCa),
        ...(certificate === 'none' ? {} : { cert: readFileSync(pki.clientCert(certificate)), key: readFileSync(pki.clientKey(certificate)) }),
      },
      ...(options.keepAlive === false ? { pipelining: 0 } : {}),
    });
    agents.set(key, agent);
  }
  return agent;
}

export async function closeAgents(): Promise<void> {
  await Promise.all([...agents.values()].map((a) => a.close()));
  agents.clear();
}
