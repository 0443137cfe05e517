/** A message as it arrives from the broker: what the ingestor needs, and how to settle it. */

/** One message as the ingestion pipeline sees it. */
export interface InboundMessage {
  /** Raw body bytes, exactly as published. */
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly destination: string;
  /** The broker's message-id, unique per message and kept on redelivery. */
  readonly messageId: string;
  /** Acknowledges it to the broker; safe to call after the connection dropped (then it is redelivered). */
  ack(): void;
}

/** Where the broker hands each message (the ingestor). */
export interface InboundSink {
  accept(message: InboundMessage): void;
}
