/**
 * STOMP publisher (a child process of bench/run.ts, driven over IPC): sends
 * ~1 KB workflow messages stamped with their send time (`"t":<ms>`, first
 * key, so the load clients find it right after `data: {`), either paced by a
 * token bucket at a set rate or as fast as the broker confirms them.
 */
import { Histogram, nowMs } from './lib/histogram.js';
import type { PublishRequest, PublishResult, PublisherRequest, Reply } from './lib/protocol.js';
import { connectProducer, type Producer } from './lib/stomp-producer.js';

/** Paced mode: tokens that may pile up while the event loop was busy (20 ms worth, at least 1). */
const BURST_SECONDS = 0.02;
/** Unpaced mode: a receipt every this many messages, and at most this many receipts outstanding. */
const RECEIPT_EVERY = 200;
const RECEIPT_WINDOW = 5;

let publisher: Producer | undefined;

/** The body of message `seq`: `{"t":…,"msg_type":…,"run_id":…,…,"pad":"xxx…"}`, about `size` bytes. */
function bodyMaker(request: PublishRequest): (seq: number) => string {
  const sample = `{"t":${nowMs().toFixed(3)},"msg_type":"${request.msgType}","run_id":"${request.runIdPrefix}${request.runIdCount - 1}","namespace":"bench","sender":"bench-publisher","seq":${request.count},"pad":""}`;
  const pad = 'x'.repeat(Math.max(0, request.size - sample.length));
  const { msgType, runIdPrefix, runIdCount } = request;
  return (seq) =>
    `{"t":${nowMs().toFixed(3)},"msg_type":"${msgType}","run_id":"${runIdPrefix}${seq % runIdCount}","namespace":"bench","sender":"bench-publisher","seq":${seq},"pad":"${pad}"}`;
}

async function publish(request: PublishRequest): Promise<PublishResult> {
  const pub = publisher;
  if (!pub) throw new Error('not connected');
  const make = bodyMaker(request);
  const headers: Record<string, string> = request.persistent ? { persistent: 'true' } : {};
  // The probe: this process's own subscriber on the topic times the broker hop alone (same clock as the stamps).
  const probe = new Histogram();
  const unsubscribe = request.probe ? await pub.subscribe(request.destination, (body) => probe.record(nowMs() - Number.parseFloat(body.slice(5, 30)))) : null;
  const startedAt = nowMs();
  const deadline = startedAt + request.maxMs;
  let sent = 0;
  let lastSentAt = startedAt;
  // The last message carries a receipt: once it is confirmed, the broker has them all.
  let last: Promise<void> = Promise.resolve();
  const sendNext = () => {
    const seq = sent++;
    if (seq === request.count - 1) last = pub.sendAndWait(request.destination, make(seq), headers);
    else pub.send(request.destination, make(seq), headers);
  };
  if (request.rate > 0) {
    const burst = Math.max(1, Math.ceil(request.rate * BURST_SECONDS));
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = nowMs();
        // Tokens earned since the start, less those spent; the first message goes at once.
        const earned = Math.min(request.count, Math.floor(((now - startedAt) / 1000) * request.rate) + 1);
        let due = Math.min(earned - sent, burst);
        while (due-- > 0) sendNext();
        if (sent > 0) lastSentAt = nowMs();
        if (sent >= request.count || now >= deadline) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
  } else {
    const outstanding: Promise<void>[] = [];
    while (sent < request.count && nowMs() < deadline) {
      if ((sent + 1) % RECEIPT_EVERY === 0 && sent !== request.count - 1) {
        outstanding.push(pub.sendAndWait(request.destination, make(sent++), headers));
        if (outstanding.length >= RECEIPT_WINDOW) await outstanding.shift();
      } else sendNext();
    }
    lastSentAt = nowMs();
    await Promise.all(outstanding);
  }
  await last;
  const confirmedAt = nowMs();
  if (unsubscribe) {
    for (let waited = 0; probe.count < sent && waited < 3000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    unsubscribe();
  }
  const window = Math.max(lastSentAt - startedAt, 1) / 1000;
  return { sent, startedAt, lastSentAt, confirmedAt, rate: sent / window, probe: unsubscribe ? probe.toData() : null };
}

async function handle(request: PublisherRequest): Promise<Record<string, unknown>> {
  switch (request.type) {
    case 'connect':
      publisher = await connectProducer(request.host, request.port, request.noDelay);
      return {};
    case 'publish':
      return { ...(await publish(request)) };
    case 'close':
      await publisher?.close();
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

process.on('message', (request: PublisherRequest) => {
  handle(request).then(
    (result) => process.send!({ id: request.id, ok: true, ...result } satisfies Reply),
    (err: unknown) => process.send!({ id: request.id, ok: false, error: String(err) } satisfies Reply),
  );
});
process.on('disconnect', () => process.exit(0));
