/**
 * The bench publisher's STOMP connection: @stomp/stompjs over a TCP socket,
 * like test/helpers/stomp-publisher.ts, but with TCP_NODELAY by choice — with
 * Nagle's algorithm on (Node's default for net sockets), paced small SENDs
 * wait for the previous segment's ACK and reach the broker in bursts, which
 * adds tens of ms to every latency measured downstream.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Client } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

const TIMEOUT_MS = 30_000;

/** A connected producer. */
export interface Producer {
  /** Fire-and-forget SEND. */
  send(destination: string, body: string, headers: Record<string, string>): void;
  /** SEND with a receipt; resolves once the broker confirms it. */
  sendAndWait(destination: string, body: string, headers: Record<string, string>): Promise<void>;
  /** Subscribes (non-durable, auto ack) on the same connection; resolves once the broker confirms, with an unsubscribe function. */
  subscribe(destination: string, onBody: (body: string) => void): Promise<() => void>;
  close(): Promise<void>;
}

/** Connects a STOMP 1.2 producer (no heartbeats, no reconnects). */
export function connectProducer(host: string, port: number, noDelay: boolean): Promise<Producer> {
  const failures = new Set<(err: Error) => void>();
  const failAll = (err: Error) => {
    for (const fail of failures) fail(err);
    failures.clear();
  };
  class Wrapper extends TCPWrapper {
    protected override getSocket(p: number, h: string): Socket {
      const socket = super.getSocket(p, h) as Socket;
      socket.setNoDelay(noDelay);
      return socket;
    }
  }
  const client = new Client({
    webSocketFactory: () => new Wrapper(host, port),
    connectHeaders: { host: 'localhost' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    connectionTimeout: TIMEOUT_MS,
    debug: () => {},
    onStompError: (frame) => failAll(new Error(`STOMP ERROR: ${frame.headers.message ?? ''} ${frame.body}`)),
    onWebSocketClose: () => failAll(new Error(`STOMP connection to ${host}:${port} closed`)),
  });
  const producer: Producer = {
    send: (destination, body, headers) => client.publish({ destination, body, headers }),
    sendAndWait(destination, body, headers) {
      return new Promise<void>((resolve, reject) => {
        const receipt = randomUUID();
        const fail = (err: Error) => {
          clearTimeout(timer);
          failures.delete(fail);
          reject(err);
        };
        const timer = setTimeout(() => fail(new Error(`no RECEIPT within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
        failures.add(fail);
        client.watchForReceipt(receipt, () => {
          clearTimeout(timer);
          failures.delete(fail);
          resolve();
        });
        client.publish({ destination, body, headers: { ...headers, receipt } });
      });
    },
    subscribe(destination, onBody) {
      return new Promise((resolve, reject) => {
        const receipt = randomUUID();
        const timer = setTimeout(() => reject(new Error(`no RECEIPT for SUBSCRIBE within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
        client.watchForReceipt(receipt, () => {
          clearTimeout(timer);
          resolve(() => subscription.unsubscribe());
        });
        const subscription = client.subscribe(destination, (message) => onBody(message.body), { ack: 'auto', receipt });
      });
    },
    close: () => client.deactivate(),
  };
  return new Promise<Producer>((resolve, reject) => {
    const fail = (err: Error) => {
      void client.deactivate();
      reject(err);
    };
    failures.add(fail);
    client.onConnect = () => {
      failures.delete(fail);
      resolve(producer);
    };
    client.activate();
  });
}
