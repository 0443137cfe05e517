/**
 * What the routes need, in one place: route files import this, never
 * server.ts, so the server can import every route without a cycle.
 */
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { DjangoAuth } from '../auth/django.js';
import type { Principal } from '../auth/tokens.js';
import type { BrokerStatus } from '../broker/stomp.js';
import type { BusHealth } from '../bus/bus.js';
import type { ProcessSnapshot } from '../cluster/registry.js';
import type { Config } from '../config.js';
import type { Hub } from '../hub/hub.js';
import type { SubscriberRecorder } from '../hub/subscribers.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';

/** Everything the routes need. */
export interface HttpDeps {
  readonly config: Config;
  readonly store: Store;
  readonly hub: Hub;
  readonly log: Logger;
  readonly subscribers: SubscriberRecorder;
  /** Hands an HTTP-published body to the one writer (here, or through Redis); null when there is none to reach. */
  readonly publish: ((body: Buffer, publisher: string, messageId?: string) => Promise<string | null>) | null;
  readonly metrics: Metrics;
  /** Streams a user has open in other relay processes (0 without Redis). */
  readonly remoteStreamsOf: (username: string) => number;
  readonly status: StatusSources;
  /** Name of this process in status output (`host:pid`). */
  readonly processName: string;
  /** swf-monitor's tokens and sessions (DJANGO_DATABASE_URL), or null when only the relay's own count. */
  readonly django: DjangoAuth | null;
}

/** Resolves the caller of a request, or throws 401. */
export type Authenticate = (request: FastifyRequest) => Promise<Principal>;

/** Live facts the status endpoint reports, read at request time. */
export interface StatusSources {
  /** Broker connection, or null in a process that runs no listener. */
  broker(): BrokerStatus | null;
  bus(): BusHealth & { kind: string };
  /** ISO time of the last message the listener received, or null. */
  lastMessageAt(): Promise<string | null>;
  /** Snapshots of every relay process (just this one without Redis). */
  processes(): Promise<ProcessSnapshot[]>;
}
