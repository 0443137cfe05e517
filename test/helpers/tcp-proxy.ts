// A TCP proxy on loopback for fault tests: freeze connections (half-open: kept open, nothing
// forwarded), cut them all and refuse new ones for a while, or blackhole the link (nothing
// forwarded, new connections accepted and held silently, as when packets are dropped).
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A running proxy to 127.0.0.1:`targetPort`. */
export type TcpProxy = {
  readonly port: number;
  /** Connections accepted so far (including closed and held ones). */
  accepted(): number;
  /**
   * Stops forwarding on the open connections whose acceptance index (0-based) `which` selects;
   * default all. With `replies`, only the target's answers stop: requests still reach it. New ones work.
   */
  freeze(which?: (index: number) => boolean, direction?: 'both' | 'replies'): void;
  /** Drops every open connection and refuses new ones for `ms`. */
  cut(ms: number): void;
  /**
   * Silently drops packets for `ms`: open connections are frozen for good (their state is lost, as
   * when a partition outlasts the peers' patience or a stateful firewall forgets them: they never
   * forward again and never close), and new ones are accepted but held, unanswered, until `ms`
   * has passed; then they are forwarded, as a connection whose SYN is retransmitted after the
   * network returns.
   */
  blackhole(ms: number): void;
  /** Ends a blackhole now and resumes every frozen connection (the partition healed in time). */
  heal(): void;
  close(): Promise<void>;
};

type Link = { client: Socket; upstream: Socket | null; frozen: boolean };

/** Starts a proxy on a free loopback port. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Map<number, Link>();
  let accepted = 0;
  let refuseUntil = 0;
  let holdUntil = 0;
  let releaseTimer: NodeJS.Timeout | undefined;

  const drop = (index: number) => {
    const link = open.get(index);
    if (!link) return;
    link.client.destroy();
    link.upstream?.destroy();
    open.delete(index);
  };
  /** Connects a held (or new) client to the target and forwards both ways. */
  const forward = (index: number, link: Link) => {
    const upstream = connect(targetPort, '127.0.0.1');
    link.upstream = upstream;
    link.client.pipe(upstream).pipe(link.client);
    link.client.resume();
    upstream.on('error', () => drop(index));
    upstream.on('close', () => drop(index));
  };
  const freezeLink = (link: Link, direction: 'both' | 'replies' = 'both') => {
    link.frozen = true;
    if (link.upstream) {
      link.upstream.unpipe(link.client);
      link.upstream.pause();
      if (direction === 'replies') return;
      link.client.unpipe(link.upstream);
    }
    link.client.pause();
  };
  const releaseHeld = () => {
    clearTimeout(releaseTimer);
    holdUntil = 0;
    for (const [index, link] of open) if (link.upstream === null) forward(index, link);
  };

  const server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const index = accepted++;
    const link: Link = { client, upstream: null, frozen: false };
    open.set(index, link);
    client.on('error', () => drop(index));
    client.on('close', () => drop(index));
    // Held: accepted (the kernel answered the SYN), nothing read or answered.
    if (Date.now() < holdUntil) client.pause();
    else forward(index, link);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    freeze(which = () => true, direction = 'both') {
      for (const [index, link] of open) if (which(index) && link.upstream) freezeLink(link, direction);
    },
    cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const index of [...open.keys()]) drop(index);
    },
    blackhole(ms) {
      for (const link of open.values()) if (link.upstream) freezeLink(link);
      holdUntil = Date.now() + ms;
      clearTimeout(releaseTimer);
      releaseTimer = setTimeout(releaseHeld, ms);
    },
    heal() {
      for (const link of open.values()) {
        if (!link.frozen || !link.upstream) continue;
        link.frozen = false;
        link.client.unpipe(link.upstream); // still piped when only the replies were frozen
        link.client.pipe(link.upstream).pipe(link.client);
        link.client.resume();
        link.upstream.resume();
      }
      releaseHeld();
    },
    async close() {
      clearTimeout(releaseTimer);
      for (const index of [...open.keys()]) drop(index);
      server.close();
      await once(server, 'close');
    },
  };
}

/** A proxy in front of a database server, and the database's URL through it (for partitions of the store). */
export async function proxyDatabase(databaseUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const proxied = new URL(databaseUrl);
  const proxy = await startTcpProxy(Number(proxied.port || 5432));
  proxied.port = String(proxy.port);
  return { proxy, url: proxied.toString() };
}
