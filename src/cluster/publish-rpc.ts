/**
 * HTTP publish from web-only processes: the one writer is the listener that
 * holds the lease, so a web process hands the body to it through Redis (a list
 * as the request queue, a pub/sub channel per web process for the answers)
 * instead of ever inserting beside it.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError, type ErrorCode } from '../errors.js';
import { replaceConnection } from './redis.js';

/** How long a web process waits for the listener's answer. */
const REPLY_TIMEOUT_MS = 10_000;
/** How long one BRPOP waits before the serving loop looks at `stopped` again. */
const POP_SECONDS = 2;
/**
 * A BRPOP unanswered this long sits on a half-open connection (a partition that outlived it: no
 * error ever comes), so its connection is replaced. Without this, stop() — and with it the lease's
 * hand-over after a Redis outage — would wait for that read forever.
 */
const POP_STALL_MS = POP_SECONDS * 1000 + 3000;

interface PublishRequest {
  id: string;
  replyTo: string;
  body: string; // base64: bodies may be any bytes
  publisher: string;
  /** The message-id to store it under (set from an Idempotency-Key), or absent for a fresh one. */
  messageId?: string;
  deadline: number;
}

interface PublishReply {
  id: string;
  eventId?: string | null;
  error?: { code: ErrorCode; message: string; extra: Record<string, unknown> };
}

/** The web side: forwards a body and waits for the listener's answer. */
export class PublishForwarder {
  private readonly pending = new Map<string, { resolve: (id: string | null) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private subscribed: Promise<unknown> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly keys: { requests: string; replies: string },
    private readonly processName: string,
  ) {
    subscriber.on('message', (_channel: string, message: string) => this.answer(JSON.parse(message) as PublishReply));
  }

  /** Resolves with the stored id, or rejects with the listener's AppError (or 503 when no listener answers). */
  async forward(body: Buffer, publisher: string, messageId?: string): Promise<string | null> {
    this.subscribed ??= this.subscriber.subscribe(this.keys.replies);
    await this.subscribed;
    const request: PublishRequest = { id: randomUUID(), replyTo: this.keys.replies, body: body.toString('base64'), publisher, messageId, deadline: Date.now() + REPLY_TIMEOUT_MS };
    const answered = new Promise<string | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request.id);
        // No answer may also mean a half-open reply connection (a partition that outlived it): a PING
        // waits for an answer, so the connection's socket timeout (cluster/redis.ts) replaces it if so.
        void this.subscriber.ping().catch(() => {});
        reject(new AppError('UNAVAILABLE', 'No listener answered; the message was not published. Retry later.', {}, 5));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(request.id, { resolve, reject, timer });
    });
    // The answer comes on another connection and may arrive before LPUSH's own reply: a refusal
    // rejecting `answered` meanwhile must not count as an unhandled rejection (it would end the process).
    answered.catch(() => {});
    try {
      await this.redis.lpush(this.keys.requests, JSON.stringify(request));
    } catch {
      const waiting = this.pending.get(request.id);
      if (waiting) {
        clearTimeout(waiting.timer);
        this.pending.delete(request.id);
      }
      throw new AppError('UNAVAILABLE', 'Redis did not confirm the message; it may not have been published. Retry later (with an Idempotency-Key to be safe).', {}, 5);
    }
    return answered;
  }

  async close(): Promise<void> {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new AppError('UNAVAILABLE', 'shutting down'));
    }
    this.subscriber.disconnect();
  }

  private answer(reply: PublishReply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    clearTimeout(waiting.timer);
    if (reply.error) waiting.reject(new AppError(reply.error.code, reply.error.message, reply.error.extra));
    else waiting.resolve(reply.eventId ?? null);
  }
}

/** The listener side: while running, takes forwarded bodies and submits them to the one writer. */
export class PublishServer {
  private stopped = true;
  private loop: Promise<void> | undefined;
  /** When the BRPOP now waiting was sent (null between reads). */
  private poppingSince: number | null = null;

  constructor(
    private readonly redis: Redis,
    /** A connection of its own: BRPOP blocks it. */
    private readonly blocking: Redis,
    private readonly requestsKey: string,
    private readonly submit: Publish,
    private readonly log: Logger,
  ) {}

  /** Starts serving (call only while holding the listener lease). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.serve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async serve(): Promise<void> {
    const watchdog = setInterval(() => this.replaceIfStalled(), POP_SECONDS * 1000);
    watchdog.unref();
    while (!this.stopped) {
      try {
        this.poppingSince = Date.now();
        const popped = await this.blocking.brpop(this.requestsKey, POP_SECONDS).finally(() => (this.poppingSince = null));
        if (!popped) continue;
        const request = JSON.parse(popped[1]) as PublishRequest;
        if (request.deadline < Date.now()) continue; // its sender has given up: do not store what it was told failed
        void this.handle(request);
      } catch (err) {
        if (this.stopped) break;
        this.log.warn({ err: (err as Error).message }, 'publish forwarding: cannot read requests; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    clearInterval(watchdog);
  }

  /** Drops the blocking connection if its BRPOP has waited past POP_STALL_MS (one reconnect per stall period). */
  private replaceIfStalled(): void {
    if (this.poppingSince === null || Date.now() - this.poppingSince < POP_STALL_MS) return;
    if (!replaceConnection(this.blocking)) return; // still reconnecting by itself
    this.log.warn({ silentMs: Date.now() - this.poppingSince }, 'publish forwarding: request reader stalled; reconnecting it');
    this.poppingSince = Date.now();
  }

  private async handle(request: PublishRequest): Promise<void> {
    let reply: PublishReply;
    try {
      reply = { id: request.id, eventId: await this.submit(Buffer.from(request.body, 'base64'), request.publisher, request.messageId) };
    } catch (err) {
      const appError = err instanceof AppError ? err : new AppError('INTERNAL', 'the listener could not publish the message');
      reply = { id: request.id, error: { code: appError.code, message: appError.message, extra: appError.extra } };
    }
    await this.redis.publish(request.replyTo, JSON.stringify(reply)).catch(() => {});
  }
}

/** Publishes a body through the one writer under `messageId` (default: a fresh one) and resolves with its new id (null: a duplicate). */
export type Publish = (body: Buffer, publisher: string, messageId?: string) => Promise<string | null>;

/**
 * Where an HTTP-published body goes: to this process's ingestor while it holds
 * the lease (or when there is no lease: one process), else through Redis to the
 * holder. Null when this process can reach no writer at all.
 */
export function publishRoute(local: Publish | null, holdsLease: (() => boolean) | null, forwarder: PublishForwarder | null): Publish | null {
  if (local === null && forwarder === null) return null;
  return (body, publisher, messageId) =>
    local !== null && (holdsLease === null || holdsLease()) ? local(body, publisher, messageId) : forwarder!.forward(body, publisher, messageId);
}
