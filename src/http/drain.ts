import type http from 'node:http';
import net from 'node:net';

/**
 * Graceful close of a listener (SIGTERM): stop accepting, then every response says
 * `Connection: close` (Node closes the connection once it is sent), so a busy keep-alive client
 * gets its answers and a clean close. A connection is closed by us only after it has been idle
 * (no request in progress) for `IDLE_CLOSE_MS`: a busy client has sent its next request well
 * before that, so it is never cut while its request is on the wire.
 *
 * Node's http `server.close()` closes every idle connection at once, and a keep-alive
 * connection is "idle" between one response and the client's next request, which may already be
 * on the wire: that request met a reset (measured: 1 to 28 of 32 busy connections, more under
 * load). So the listening socket is closed with net.Server's own close, and idleness is timed
 * here. (http's close also stops its request-timeout checker; that timer is unref'd and the
 * server is done with once its connections are gone.)
 */
const IDLE_CLOSE_MS = 1000;
const SWEEP_MS = 50;

interface Connection {
  inProgress: number;
  idleSince: number;
}

export interface DrainableServer {
  close(): Promise<void>;
}

/** Starts tracking the server's connections; `connectionEvent` is 'secureConnection' for https. */
export function drainable(server: http.Server, connectionEvent: 'connection' | 'secureConnection'): DrainableServer {
  const connections = new Map<net.Socket, Connection>();
  server.on(connectionEvent, (socket: net.Socket) => {
    connections.set(socket, { inProgress: 0, idleSince: Date.now() });
    socket.once('close', () => connections.delete(socket));
  });
  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const connection = connections.get(req.socket);
    if (!connection) return;
    connection.inProgress++;
    res.once('close', () => {
      connection.inProgress--;
      connection.idleSince = Date.now();
    });
  });
  const closeIdle = () => {
    const now = Date.now();
    for (const [socket, connection] of connections) if (connection.inProgress === 0 && now - connection.idleSince >= IDLE_CLOSE_MS) socket.end();
  };
  return {
    close: () =>
      new Promise((resolve) => {
        server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => res.setHeader('Connection', 'close'));
        const sweep = setInterval(closeIdle, SWEEP_MS);
        net.Server.prototype.close.call(server, () => {
          clearInterval(sweep);
          resolve();
        });
        closeIdle();
      }),
  };
}
