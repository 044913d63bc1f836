import { readFileSync } from 'node:fs';
import { Client } from 'undici';
import { closeAgents, testPki } from '../support/pki';
import { seed } from '../support/seed';
import { startTestService } from '../support/service';

/** Graceful shutdown: busy keep-alive clients get their answers and a clean close, no reset. */
afterAll(() => closeAgents());

it('32 busy keep-alive connections: every request in flight is answered, each connection closed cleanly, the service stops in time', async () => {
  const service = await startTestService();
  const data = await seed(service);
  const pki = testPki();
  const connect = {
    ca: readFileSync(pki.serverCa),
    cert: readFileSync(pki.clientCert('ap-production')),
    key: readFileSync(pki.clientKey('ap-production')),
    servername: 'localhost',
  };
  // One connection per client, each kept busy: a request is always in flight or about to be.
  const connections = Array.from({ length: 32 }, () => new Client(service.publicUrl, { connect }));
  const errors: string[] = [];
  let answered = 0;
  const perConnection = Array<number>(32).fill(0);
  let closedCleanly = 0;
  try {
    const clients = Array.from({ length: 32 }, async (_, i) => {
      for (;;) {
        try {
          const response = await connections[i].request({ method: 'GET', path: `/hermes-rw/migrationKey/${data[1][i % 10]}` });
          await response.body.dump();
          if (response.statusCode !== 200) errors.push(`HTTP ${response.statusCode}`);
          answered++;
          perConnection[i]++;
          if (response.headers.connection === 'close') {
            closedCleanly++;
            return;
          }
        } catch (error) {
          errors.push(`${(error as { code?: string }).code ?? ''} ${(error as Error).message}`);
          return;
        }
      }
    });
    // Every connection through its handshake and answering, before the stop.
    while (perConnection.some((n) => n < 2)) await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await service.close();
    const stopMs = Date.now() - started;
    await Promise.all(clients);
    expect(errors).toEqual([]);
    expect(closedCleanly).toBe(32);
    expect(answered).toBeGreaterThan(32);
    expect(stopMs).toBeLessThan(5000);
  } finally {
    await Promise.all(connections.map((c) => c.close()));
    await service.stop();
  }
});
