/**
 * StompListener: consumes the workflow topic from ActiveMQ over STOMP 1.2
 * (@stomp/stompjs over a TCP socket), durable by default, acknowledging each
 * message individually when the ingestion pipeline says it is safe.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, ReconnectionTimeMode, type IMessage, type StompHeaders } from '@stomp/stompjs';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { InboundSink } from '../model/inbound.js';
import { brokerAddress, openBrokerSocket } from './socket.js';
import { installFastStompParser } from './stomp-parser.js';

installFastStompParser();

/** Connection state, for status and readiness. */
export type BrokerState = 'standby' | 'connecting' | 'connected' | 'disconnected' | 'stopped';

/** What status reports about the broker connection. */
export interface BrokerStatus {
  readonly state: BrokerState;
  readonly destination: string;
  readonly durable: boolean;
  readonly connectedSince: string | null;
  readonly reconnects: number;
  readonly lastError: string | null;
}

/** First reconnect delay; it doubles per failed attempt up to `reconnectMaxMs`. */
const RECONNECT_INITIAL_MS = 500;
/**
 * Refused because the broker still holds our client-id: a previous connection of this relay (or of
 * a frozen former lease holder) that the broker has not dropped yet. It will, within its heart-beat
 * grace, so retry about every second rather than backing off into a long wait.
 */
const CLIENT_ID_TAKEN = /already connected/i;
const CLIENT_ID_TAKEN_MAX_ATTEMPTS = 2;
/** Up to this fraction of the delay is added at random, so many relays do not reconnect in step. */
const RECONNECT_JITTER = 0.3;

/** Consumes one destination; call start() once, stop() to disconnect (unacked messages are redelivered). */
export class StompListener {
  private readonly client: Client;
  private state: BrokerState = 'stopped';
  private connectedSince: Date | null = null;
  private reconnects = 0;
  private everConnected = false;
  private failedAttempts = 0;
  private lastError: string | null = null;
  /** The last refusal was for our client-id being still connected (CLIENT_ID_TAKEN). */
  private clientIdTaken = false;
  /** `client` mode: the newest message acked in this turn, whose ACK goes out at the end of the turn. */
  private ackDue: IMessage | null = null;

  constructor(
    private readonly config: BrokerConfig,
    private readonly log: Logger,
    /** Receives every message; acknowledging is its call (the ingestor acks after commit). */
    private readonly sink: InboundSink,
  ) {
    this.client = new Client({
      webSocketFactory: () => openBrokerSocket(config),
      connectHeaders: this.connectHeaders(),
      heartbeatIncoming: config.heartbeatMs,
      heartbeatOutgoing: config.heartbeatMs,
      connectionTimeout: 10_000,
      // On missed heart-beats (or a CONNECT unanswered in time) destroy the socket: a graceful close
      // waits for the peer's FIN, which a half-open connection never sends, so the client would
      // stay "connected" to nothing and never reconnect.
      discardWebsocketOnCommFailure: true,
      // The library waits this fixed delay; beforeConnect adds the growing part (our own backoff, which
      // a refused client-id can hold short).
      reconnectDelay: RECONNECT_INITIAL_MS,
      reconnectTimeMode: ReconnectionTimeMode.LINEAR,
      debug: () => {},
      // The library builds its debug text even when debug() drops it: with raw logging that is the
      // received chunk as text, not every frame re-serialised with its headers escaped (~5× the cost).
      logRawCommunication: true,
    });
    this.client.beforeConnect = async () => {
      this.state = 'connecting';
      if (this.failedAttempts > 0) {
        const base = Math.min(RECONNECT_INITIAL_MS * 2 ** (this.failedAttempts - 1), config.reconnectMaxMs);
        await delay(Math.max(0, base - RECONNECT_INITIAL_MS) + Math.random() * RECONNECT_JITTER * base);
      }
    };
    this.client.onConnect = () => this.subscribe();
    this.client.onStompError = (frame) => {
      this.lastError = frame.headers.message ?? 'STOMP ERROR frame';
      this.clientIdTaken = CLIENT_ID_TAKEN.test(this.lastError);
      this.log.error({ broker: this.where(), error: this.lastError, body: frame.body.slice(0, 500) }, 'broker sent an error');
    };
    this.client.onWebSocketError = (event: { message?: unknown }) => {
      const message = event?.message instanceof Error ? event.message.message : String(event?.message ?? 'socket error');
      this.lastError = message;
    };
    this.client.onWebSocketClose = () => {
      const wasConnected = this.connectedSince !== null;
      if (this.state !== 'stopped') this.state = 'disconnected';
      this.connectedSince = null;
      if (!this.client.active) return;
      this.failedAttempts = wasConnected ? 0 : this.clientIdTaken ? Math.min(this.failedAttempts + 1, CLIENT_ID_TAKEN_MAX_ATTEMPTS) : this.failedAttempts + 1;
      this.clientIdTaken = false;
      const level = wasConnected || this.failedAttempts === 1 ? 'warn' : 'info';
      this.log[level](
        { broker: this.where(), error: this.lastError, attempt: this.failedAttempts },
        wasConnected ? 'broker connection lost; reconnecting' : 'broker unreachable; retrying with backoff',
      );
    };
  }

  /** Marks this listener as waiting for the lease another listener holds. */
  standby(): void {
    this.state = 'standby';
  }

  /** Connects (and keeps reconnecting) in the background. */
  start(): void {
    this.state = 'connecting';
    this.client.activate();
  }

  /** Disconnects; messages not yet acknowledged stay with the broker. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    await this.client.deactivate();
  }

  /** Like stop(), then waits in standby (the lease was lost to another listener). */
  async pause(): Promise<void> {
    await this.stop();
    this.state = 'standby';
  }

  status(): BrokerStatus {
    return {
      state: this.state,
      destination: this.config.destination,
      durable: this.config.subscriptionName !== '',
      connectedSince: this.connectedSince?.toISOString() ?? null,
      reconnects: this.reconnects,
      lastError: this.lastError,
    };
  }

  private subscribe(): void {
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    this.failedAttempts = 0;
    this.lastError = null;
    const durable = this.config.subscriptionName !== '';
    const receipt = `sub-${randomUUID()}`;
    const headers: StompHeaders = {
      ack: this.config.ackMode,
      'activemq.prefetchSize': String(this.config.prefetch),
      receipt,
    };
    if (durable) {
      headers['activemq.subscriptionName'] = this.config.subscriptionName; // ActiveMQ Classic
      headers['durable-subscription-name'] = this.config.subscriptionName; // Artemis
      headers['subscription-type'] = 'MULTICAST';
    }
    // "connected" only once the broker confirms the subscription: before that, a topic drops what is published.
    this.client.watchForReceipt(receipt, () => {
      this.state = 'connected';
      this.connectedSince = new Date();
      this.log.info({ broker: this.where(), destination: this.config.destination, durable }, 'subscribed');
    });
    this.client.subscribe(this.config.destination, (message) => this.deliver(message), headers);
  }

  private deliver(message: IMessage): void {
    const headers = { ...message.headers } as Record<string, string>;
    this.sink.accept({
      body: message.binaryBody,
      headers,
      destination: headers.destination ?? this.config.destination,
      // ActiveMQ always sets message-id; a broker that does not gets no dedupe rather than a false one.
      messageId: headers['message-id'] || `local:${randomUUID()}`,
      ack: this.config.ackMode === 'client' ? () => this.ackCumulative(message) : () => ackNow(message),
    });
  }

  /**
   * `client` (cumulative) mode: an ACK covers every message delivered before it. The ingestor
   * acks in arrival order, all of a committed batch in one turn, so one ACK for the newest
   * message of the turn acknowledges exactly the batch.
   */
  private ackCumulative(message: IMessage): void {
    const scheduled = this.ackDue !== null;
    this.ackDue = message;
    if (scheduled) return;
    queueMicrotask(() => {
      const newest = this.ackDue!;
      this.ackDue = null;
      ackNow(newest);
    });
  }

  private connectHeaders(): StompHeaders {
    const headers: StompHeaders = { host: this.config.host, 'client-id': this.config.clientId };
    if (this.config.user !== undefined) headers.login = this.config.user;
    if (this.config.password !== undefined) headers.passcode = this.config.password;
    return headers;
  }

  private where(): string {
    return brokerAddress(this.config);
  }
}

function ackNow(message: IMessage): void {
  try {
    message.ack();
  } catch {
    // The connection is gone: the broker redelivers, and the message-id dedupes it.
  }
}
