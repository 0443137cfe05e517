/**
 * A STOMP producer for `swf-relay send`: the listener's broker settings and
 * socket (TCP or TLS), persistent messages, and a receipt for every SEND so
 * the caller knows each one reached the broker. No reconnects of its own.
 */
import { randomUUID } from 'node:crypto';
import { Client, type StompHeaders } from '@stomp/stompjs';
import type { BrokerConfig } from '../../config.js';
import { brokerAddress, openBrokerSocket } from '../../broker/socket.js';
import { ExitError, EXIT_CODES } from '../exit.js';

/** A connected producer. */
export interface StompProducer {
  /** SENDs `body` (persistent, with a receipt); resolves once the broker confirms it, rejects on an ERROR frame, a lost connection or no receipt in time. */
  send(body: string): Promise<void>;
  /** False once the connection is gone (it is never re-established). */
  readonly connected: boolean;
  /** Sends DISCONNECT and closes the socket; pending sends fail. */
  close(): Promise<void>;
}

/** Options of connectStompProducer. */
export interface StompProducerOptions {
  /** Where messages go, e.g. `/topic/epictopic`. */
  readonly destination: string;
  /** Give up connecting after this long, ms (exit 5). */
  readonly connectTimeoutMs: number;
  /** A send without receipt after this long counts as failed, ms. */
  readonly receiptTimeoutMs: number;
}

/**
 * Connects to the broker. Rejects with ExitError 5 when it cannot be reached
 * in time, 3 when it answers CONNECT with an ERROR frame (bad login).
 */
export function connectStompProducer(config: BrokerConfig, options: StompProducerOptions): Promise<StompProducer> {
  const where = brokerAddress(config);
  // Receipts we wait for: receipt id → reject; all fail together when the connection goes.
  const pending = new Map<string, (err: Error) => void>();
  let lost: string | null = null;
  let isConnected = false;
  const failAll = (reason: string) => {
    lost ??= reason;
    isConnected = false;
    for (const reject of pending.values()) reject(new Error(reason));
    pending.clear();
  };

  const connectHeaders: StompHeaders = { host: config.host };
  if (config.user !== undefined) connectHeaders.login = config.user;
  if (config.password !== undefined) connectHeaders.passcode = config.password;
  const client = new Client({
    webSocketFactory: () => openBrokerSocket(config),
    connectHeaders,
    heartbeatIncoming: config.heartbeatMs,
    heartbeatOutgoing: config.heartbeatMs,
    reconnectDelay: 0,
    debug: () => {},
  });
  let lastSocketError = '';
  client.onWebSocketError = (event: { message?: unknown }) => {
    const err = event?.message;
    lastSocketError = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err ?? 'socket error');
  };

  const publisher: StompProducer = {
    send(body) {
      return new Promise<void>((resolve, reject) => {
        if (!isConnected) return reject(new Error(lost ?? 'not connected to the broker'));
        const receipt = randomUUID();
        const timer = setTimeout(() => done(new Error(`no receipt from the broker within ${options.receiptTimeoutMs / 1000} s`)), options.receiptTimeoutMs);
        const done = (err?: Error) => {
          clearTimeout(timer);
          pending.delete(receipt);
          if (err) reject(err);
          else resolve();
        };
        pending.set(receipt, done);
        client.watchForReceipt(receipt, () => done());
        try {
          client.publish({ destination: options.destination, body, headers: { persistent: 'true', 'content-type': 'application/json', receipt } });
        } catch (err) {
          done(err as Error);
        }
      });
    },
    get connected() {
      return isConnected;
    },
    async close() {
      failAll('publisher closed');
      await client.deactivate();
    },
  };

  return new Promise<StompProducer>((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        void client.deactivate();
        reject(err);
      } else resolve(publisher);
    };
    const unreachable = (why: string) => new ExitError(EXIT_CODES.unreachable, `cannot reach the broker at ${where}: ${why}`);
    const timer = setTimeout(() => settle(unreachable(`no answer within ${options.connectTimeoutMs / 1000} s`)), options.connectTimeoutMs);
    client.onConnect = () => {
      isConnected = true;
      settle();
    };
    client.onStompError = (frame) => {
      const message = `${frame.headers.message ?? 'ERROR frame'}${frame.body ? `: ${frame.body.split('\n')[0]}` : ''}`;
      if (!settled) return settle(new ExitError(EXIT_CODES.auth, `the broker at ${where} refused the connection (${message})`));
      // An ERROR about one SEND names its receipt; anything else ends the connection for all.
      const receiptId = frame.headers['receipt-id'];
      const reject = receiptId === undefined ? undefined : pending.get(receiptId);
      if (reject) reject(new Error(`broker error: ${message}`));
      else failAll(`broker error: ${message}`);
    };
    client.onWebSocketClose = () => {
      failAll(`connection to the broker at ${where} lost${lastSocketError ? ` (${lastSocketError})` : ''}`);
      settle(unreachable(lastSocketError || 'connection closed'));
    };
    client.activate();
  });
}
