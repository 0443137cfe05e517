// A TCP proxy on loopback for fault tests: freeze connections (half-open: kept open, nothing
// forwarded) or cut them all and refuse new ones for a while.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A running proxy to 127.0.0.1:`targetPort`. */
export type TcpProxy = {
  readonly port: number;
  /** Connections accepted so far (including closed ones). */
  accepted(): number;
  /** Stops forwarding on the open connections whose acceptance index (0-based) `which` selects; default all. New ones work. */
  freeze(which?: (index: number) => boolean): void;
  /** Drops every open connection and refuses new ones for `ms`. */
  cut(ms: number): void;
  close(): Promise<void>;
};

/** Starts a proxy on a free loopback port. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Map<number, [Socket, Socket]>();
  let accepted = 0;
  let refuseUntil = 0;
  const server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const index = accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const destroy = () => {
      client.destroy();
      upstream.destroy();
      open.delete(index);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', destroy);
      socket.on('close', destroy);
    }
    open.set(index, [client, upstream]);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    freeze(which = () => true) {
      for (const [index, [client, upstream]] of open) {
        if (!which(index)) continue;
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const [client, upstream] of open.values()) {
        client.destroy();
        upstream.destroy();
      }
    },
    async close() {
      for (const [client, upstream] of open.values()) {
        client.destroy();
        upstream.destroy();
      }
      server.close();
      await once(server, 'close');
    },
  };
}
