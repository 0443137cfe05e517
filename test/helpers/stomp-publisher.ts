// Minimal STOMP producer for tests, on @stomp/stompjs over a raw TCP socket.
import { Client } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { randomUUID } from 'node:crypto';

const TIMEOUT_MS = 10_000;
/**
 * How long a receipt may take. A receipt follows every SEND before it (the broker answers in order), and
 * after thousands of persistent sends the journal may be that far behind on a busy machine: waiting
 * longer only delays a real failure, never hides one (the tests then check what arrived).
 */
const RECEIPT_TIMEOUT_MS = 60_000;

/** A connected STOMP producer. */
export type Publisher = {
  /** Fire-and-forget SEND; a Uint8Array body goes out byte for byte (binaryBody, with content-length). */
  send(destination: string, body: string | Uint8Array, headers?: Record<string, string>): void;
  /** SEND with a `receipt` header; resolves once the broker has acknowledged the frame. */
  sendAndWait(destination: string, body: string | Uint8Array, headers?: Record<string, string>): Promise<void>;
  /** Sends DISCONNECT and closes the socket. */
  close(): Promise<void>;
};

/** Connects a STOMP 1.2 producer to host:port (no heartbeats, no reconnects); rejects if the broker refuses or is down. */
export function connectPublisher(host: string, port: number): Promise<Publisher> {
  // Everything waiting on the connection (the CONNECT itself, receipts) fails together on ERROR or close.
  const waiting = new Set<(err: Error) => void>();
  const failAll = (err: Error) => {
    for (const reject of waiting) reject(err);
    waiting.clear();
  };
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(host, port),
    connectHeaders: { host: 'localhost' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    connectionTimeout: TIMEOUT_MS,
    onStompError: (frame) => failAll(new Error(`STOMP ERROR from ${host}:${port}: ${frame.headers.message ?? ''} ${frame.body}`.trim())),
    onWebSocketError: () => failAll(new Error(`STOMP connection to ${host}:${port} failed`)),
    onWebSocketClose: () => failAll(new Error(`STOMP connection to ${host}:${port} closed`)),
  });

  const publish = (destination: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    typeof body === 'string' ? client.publish({ destination, body, headers }) : client.publish({ destination, binaryBody: body, headers });

  const publisher: Publisher = {
    send: publish,
    sendAndWait(destination, body, headers = {}) {
      return new Promise<void>((resolve, reject) => {
        const receipt = randomUUID();
        const fail = (err: Error) => {
          clearTimeout(timer);
          waiting.delete(fail);
          reject(err);
        };
        const timer = setTimeout(() => fail(new Error(`no RECEIPT for SEND to ${destination} within ${RECEIPT_TIMEOUT_MS} ms`)), RECEIPT_TIMEOUT_MS);
        waiting.add(fail);
        client.watchForReceipt(receipt, () => {
          clearTimeout(timer);
          waiting.delete(fail);
          resolve();
        });
        try {
          publish(destination, body, { ...headers, receipt });
        } catch (err) {
          fail(err as Error); // not connected (any more)
        }
      });
    },
    close: () => client.deactivate(),
  };

  return new Promise<Publisher>((resolve, reject) => {
    const fail = (err: Error) => {
      void client.deactivate();
      reject(err);
    };
    waiting.add(fail);
    client.onConnect = () => {
      waiting.delete(fail);
      resolve(publisher);
    };
    client.activate();
  });
}
