/**
 * The relay's broker layer alone (a child process of bench/run.ts, driven
 * over IPC): the relay's own StompListener — @stomp/stompjs with the relay's
 * frame parser, the same prefetch and per-message ACKs — whose sink keeps
 * nothing and acks what arrived every ACK_INTERVAL_MS, all in one turn, as the
 * relay acks a committed batch. Its CPU per message is what receiving and
 * acknowledging a STOMP message costs a Node process before any validation,
 * storage or fanout: a floor under the relay's ingest cost.
 */
import { pino } from 'pino';
import { StompListener } from '../src/broker/stomp.js';
import { serveRequests, type BrokerConsumerRequest } from './lib/protocol.js';

/** The relay's default INGEST_COMMIT_INTERVAL_MS: it acks a committed batch at most this often. */
const ACK_INTERVAL_MS = 10;

let listener: StompListener | undefined;
let received = 0;
let unacked: (() => void)[] = [];
let ackTimer: NodeJS.Timeout | null = null;

function ackAll(): void {
  ackTimer = null;
  const acks = unacked;
  unacked = [];
  for (const ack of acks) ack();
}

async function connect(host: string, port: number, destination: string, durableName: string): Promise<void> {
  listener = new StompListener(
    {
      host,
      port,
      user: undefined,
      password: undefined,
      useSsl: false,
      caCertsFile: undefined,
      certFile: undefined,
      keyFile: undefined,
      destination,
      subscriptionName: durableName,
      clientId: durableName || `bench-broker-consumer-${process.pid}`,
      heartbeatMs: 4000,
      reconnectMaxMs: 5000,
      prefetch: 1000,
      ackMode: 'client-individual',
    },
    pino({ level: 'warn' }),
    {
      accept(message) {
        received++;
        unacked.push(message.ack);
        ackTimer ??= setTimeout(ackAll, ACK_INTERVAL_MS);
      },
    },
  );
  listener.start();
  const deadline = Date.now() + 15_000;
  while (listener.status().state !== 'connected') {
    if (Date.now() > deadline) throw new Error(`not subscribed after 15 s: ${listener.status().lastError ?? 'no error reported'}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function handle(request: BrokerConsumerRequest): Promise<Record<string, unknown>> {
  switch (request.type) {
    case 'connect':
      await connect(request.host, request.port, request.destination, request.durableName ?? '');
      return {};
    case 'report':
      return { received };
    case 'close':
      await listener?.stop();
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

serveRequests(handle);
