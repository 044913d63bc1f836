import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { freePorts, startServerProcess } from '../support/server-process';
import { freshDatabase } from '../support/throwaway-database';
import { devPkiPaths } from '../../src/dev/dev-pki';
import { requestOnNewConnection } from '../support/pki';
import { itWithServers } from '../support/service';

/** HSMP_WORKERS=2: the real binary, two cluster workers sharing PostgreSQL and Redis. */
describe('cluster workers', () => {
  itWithServers('DATABASE_URL', 'REDIS_URL')('two workers answer on one port, and SIGTERM stops them all', async () => {
    const work = mkdtempSync(path.join(os.tmpdir(), 'hsmp-workers-'));
    const database = await freshDatabase(process.env.DATABASE_URL!, `hsmp_workers_${randomBytes(4).toString('hex')}`);
    const [port, adminPort, revocationPort, devSmlPort] = await freePorts(4);
    try {
      const server = await startServerProcess(
        {
          HSMP_HOST: '127.0.0.1',
          HSMP_PORT: String(port),
          HSMP_ADMIN_PORT: String(adminPort),
          HSMP_DEV_REVOCATION_PORT: String(revocationPort),
          // Not the default 8890: another run on this machine may hold it (it met EADDRINUSE).
          HSMP_DEV_SML_PORT: String(devSmlPort),
          HSMP_DEV_PKI_DIR: path.join(work, 'pki'),
          HSMP_DATA_DIR: path.join(work, 'data'),
          HSMP_WORKERS: '2',
          DATABASE_URL: database.url,
          REDIS_URL: process.env.REDIS_URL!,
          HSMP_REDIS_PREFIX: `hsmp-workers-${randomBytes(4).toString('hex')}`,
          HSMP_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
          HSMP_LOG_LEVEL: 'warn',
        },
        adminPort,
      );
      try {
        const children = execFileSync('ps', ['--ppid', String(server.child.pid), '-o', 'pid='], { encoding: 'utf8' })
          .trim()
          .split(/\s+/);
        expect(children).toHaveLength(2);
        const pki = devPkiPaths(path.join(work, 'pki'));
        // Unknown enterprises (nothing seeded): every worker answers 001 the same way.
        const codes = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const agent = new Agent({
              connect: {
                ca: readFileSync(pki.serverCa),
                cert: readFileSync(pki.clientCert('ap-production')),
                key: readFileSync(pki.clientKey('ap-production')),
              },
            });
            const r = await request(`https://localhost:${port}/hermes-rw/migrationKey/0200065765`, { dispatcher: agent });
            const body = await r.body.text();
            await agent.close();
            return `${r.statusCode} ${/<Code>([^<]+)/.exec(body)?.[1]} ${String(r.headers['ratelimit-limit'])}`;
          }),
        );
        expect(new Set(codes)).toEqual(new Set(['404 HSMP-001 1000']));

        // A session resumes whichever worker the connection reaches (the primary hands
        // connections out in turn): measured, with no ticket keys shared by hsmp.
        const target = '/hermes-rw/migrationKey/0200065765';
        const first = await requestOnNewConnection(`https://127.0.0.1:${port}`, 'ap-production', target, undefined, pki);
        const resumed = await Promise.all(
          Array.from({ length: 6 }, () => requestOnNewConnection(`https://127.0.0.1:${port}`, 'ap-production', target, first.session, pki)),
        );
        expect(resumed.map((r) => `${r.status} ${r.reused}`)).toEqual(Array(6).fill('404 true'));
      } finally {
        const started = Date.now();
        await server.stop();
        expect(server.child.exitCode).toBe(0);
        expect(Date.now() - started).toBeLessThan(10_000);
      }
    } finally {
      await database.drop();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
