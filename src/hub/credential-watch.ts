/**
 * Open streams end when their credential does: every PERIOD_MS each web process
 * asks the store, in one query, which of the tokens and sessions its open streams
 * use still authenticate, and closes the streams whose credential was revoked,
 * expired or whose user was disabled. The store is what all processes share, so
 * this needs no Redis and no message from the CLI that revoked it.
 */
import type { Logger } from 'pino';
import type { CredentialRefs, IdentityStore } from '../store/store.js';
import type { Hub } from './hub.js';
import { CLOSE_REASONS, type SseClient } from './sse-client.js';
import { encodeControl } from './sse-frame.js';

/** How often open streams' credentials are re-checked: a revoked one ends within this plus one query. */
export const CREDENTIAL_CHECK_MS = 2000;

/** The last frame of a stream whose credential ended: `shutdown` (clients already know it), reason `revoked`. */
export const REVOKED_FRAME = encodeControl('shutdown', { reason: CLOSE_REASONS.revoked });

/** Re-checks the credentials of the hub's open streams. */
export class CredentialWatch {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Streams closed because their credential ended, since start. */
  closed = 0;

  constructor(
    private readonly hub: Pick<Hub, 'clients'>,
    private readonly store: Pick<IdentityStore, 'liveCredentials'>,
    private readonly log: Logger,
    private readonly periodMs: number = CREDENTIAL_CHECK_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One check; resolves with how many streams it closed. Never throws. */
  async check(): Promise<number> {
    if (this.running) return 0; // a slow store must not pile up queries
    this.running = true;
    try {
      const watched = [...this.hub.clients()].filter((c) => !c.isClosed && c.info.credential);
      if (watched.length === 0) return 0;
      const refs: CredentialRefs = {
        tokenIds: watched.flatMap((c) => (c.info.credential!.kind === 'token' ? [c.info.credential!.id] : [])),
        sessionIdHashes: watched.flatMap((c) => (c.info.credential!.kind === 'session' ? [c.info.credential!.id] : [])),
      };
      const live = await this.store.liveCredentials(refs, new Date().toISOString());
      const alive = { token: new Set(live.tokenIds), session: new Set(live.sessionIdHashes) };
      let closed = 0;
      for (const client of watched) {
        const { kind, id } = client.info.credential!;
        if (alive[kind].has(id)) continue;
        this.end(client);
        closed++;
      }
      this.closed += closed;
      return closed;
    } catch (err) {
      // Fail open: a store outage must not end every stream; the next period checks again.
      this.log.warn({ err }, 'could not re-check the credentials of open streams');
      return 0;
    } finally {
      this.running = false;
    }
  }

  private end(client: SseClient): void {
    this.log.info({ clientId: client.id, user: client.info.username, via: client.info.credential!.kind, reason: CLOSE_REASONS.revoked }, 'stream closed: credential no longer valid');
    client.close(REVOKED_FRAME);
  }
}
