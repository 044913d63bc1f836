import type { Server } from 'node:net';
import type { Socket } from 'node:net';

/**
 * At most `max` connections at a time from one client address, counted on the TCP connection
 * before any TLS: one address cannot fill the listener's `maxConnections` with sockets that
 * never finish a handshake (or never send a request) and so shut everyone else out. The
 * connection beyond the cap is closed at once, before it costs a handshake.
 *
 * Peers for which `exempt` is true are not capped: a trusted proxy carries every client's
 * connections under its own address, so the cap would throttle all clients together; the
 * per-client cap then belongs at the proxy, which sees the clients' addresses.
 */
export interface ConnectionCapOptions {
  max: number;
  exempt(address: string): boolean;
  /** Called for each connection closed for being over the cap. */
  onRefused?(address: string): void;
}

export function capConnectionsPerAddress(server: Server, options: ConnectionCapOptions): void {
  const open = new Map<string, number>();
  server.prependListener('connection', (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    if (options.exempt(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= options.max) {
      options.onRefused?.(address);
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

/** An IPv4 client of a dual-stack listener, written as IPv4. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
