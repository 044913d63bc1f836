import { spawn, type ChildProcess } from 'node:child_process';
import Redis from 'ioredis';
import { freePorts } from '../../bench/support';

/**
 * A redis-server of the test's own, on a free port, without persistence (as the one that lost
 * the counters in the second review), that the test may restart or flush. The shared Redis of
 * the run is never touched.
 */
export interface OwnRedis {
  url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const [port] = await freePorts(1);
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    try {
      for (let attempt = 0; ; attempt++) {
        const pong = await client.ping().catch(() => undefined);
        if (pong === 'PONG') return;
        if (attempt > 100) throw new Error(`redis-server on port ${port} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      client.disconnect();
    }
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => {
        resolve();
      });
      child.kill('SIGKILL');
    });
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}
