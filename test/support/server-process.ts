import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';

/** The real server as a child process on free ports, for tests and benchmarks alike. */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve) => {
          const s = net.createServer();
          s.listen(0, '127.0.0.1', () => {
            resolve(s);
          });
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/**
 * Free ports below the kernel's ephemeral range, for a server restarted on the same ports: a
 * port from listen(0) is in that range, and between the stop and the restart an outgoing
 * connection of any process may take it (seen: EADDRINUSE on the restart in a clean-clone run).
 */
export async function freePortsToReuse(count: number): Promise<number[]> {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 10_000 + Math.floor(Math.random() * (ephemeralLow - 10_000));
    if (!ports.includes(port) && (await portIsFree(port))) ports.push(port);
  }
  return ports;
}

/** Whether a listener could bind `port` on loopback now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => {
      resolve(false);
    });
    probe.listen(port, '127.0.0.1', () => {
      probe.close(() => {
        resolve(true);
      });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  adminUrl: string;
  stop(): Promise<void>;
}

/** Starts `node dist/src/main.js` (of `root`, this checkout by default) and waits until /readyz answers 200. */
export async function startServerProcess(env: NodeJS.ProcessEnv, adminPort: number, args: string[] = [], root = REPO_ROOT): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...args, path.join(root, 'dist', 'src', 'main.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const r = await request(`${adminUrl}/readyz`);
      await r.body.dump();
      if (r.statusCode === 200) break;
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) throw new Error('server not ready within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    adminUrl,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, and resolves once the process has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => {
      resolve();
    });
    child.kill('SIGTERM');
  });
}
