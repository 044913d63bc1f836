import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { requireInCi, startTestService, type TestService } from './service';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

/**
 * A service whose database sits behind a TCP relay that the test can cut and restore: a
 * database of its own on the run's PostgreSQL, or a PGlite socket of its own without one.
 */
export interface ServiceBehindRelay {
  service: TestService;
  proxy: TcpProxy;
  stop(): Promise<void>;
}

export async function startServiceBehindRelay(env: Record<string, string> = {}, logLines?: string[]): Promise<ServiceBehindRelay> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  };
  try {
    let target: { host: string; port: number };
    let urlThrough: (port: number) => string;
    let keyEncryptionKey = 'ab'.repeat(32);
    if (requireInCi('DATABASE_URL')) {
      const owner = await startTestService();
      cleanups.push(() => owner.stop());
      const url = new URL(owner.env.DATABASE_URL);
      target = { host: url.hostname, port: Number(url.port || 5432) };
      urlThrough = (port) => Object.assign(new URL(url.toString()), { port: String(port) }).toString();
      keyEncryptionKey = owner.env.HSMP_KEY_ENCRYPTION_KEY;
      await owner.close();
    } else {
      const db = await PGlite.create();
      const socket = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
      await socket.start();
      cleanups.push(async () => {
        await socket.stop();
        await db.close();
      });
      const [host, port] = socket.getServerConn().split(':');
      target = { host, port: Number(port) };
      urlThrough = (p) => `postgresql://postgres@127.0.0.1:${p}/postgres`;
    }
    const proxy = await startTcpProxy(target);
    cleanups.unshift(() => proxy.close());
    const service = await startTestService({
      logLines,
      env: { DATABASE_URL: urlThrough(proxy.port), HSMP_DB_POOL_SIZE: process.env.DATABASE_URL ? '4' : '1', HSMP_KEY_ENCRYPTION_KEY: keyEncryptionKey, ...env },
    });
    cleanups.unshift(() => service.stop());
    return { service, proxy, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
