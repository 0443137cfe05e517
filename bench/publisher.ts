/**
 * STOMP publisher (a child process of bench/run.ts, driven over IPC): sends
 * ~1 KB workflow messages stamped with their send time (`"t":<ms>`, first
 * key, so the load clients find it right after `data: {`), either paced by a
 * token bucket at a set rate or as fast as the broker confirms them. Its HTTP
 * mode POSTs the same bodies at the same pace to nchan (bench/lib/nchan.ts).
 */
import { Histogram, nowMs } from './lib/histogram.js';
import { HttpProducer } from './lib/http-producer.js';
import { serveRequests, type HttpPublishRequest, type PublishRequest, type PublishResult, type PublisherRequest } from './lib/protocol.js';
import { connectProducer, type Producer } from './lib/stomp-producer.js';

/** Paced mode: tokens that may pile up while the event loop was busy (20 ms worth, at least 1). */
const BURST_SECONDS = 0.02;
/** Unpaced mode: a receipt every this many messages, and at most this many receipts outstanding. */
const RECEIPT_EVERY = 200;
const RECEIPT_WINDOW = 5;

let publisher: Producer | undefined;
/** HTTP mode: one producer per publish URL, kept for the run (warm connections). */
const httpProducers = new Map<string, HttpProducer>();

/** The body of message `seq`: `{"t":…,"msg_type":…,"run_id":…,…,"pad":"xxx…"}`, about `size` bytes. */
function bodyMaker(request: Pick<PublishRequest, 'count' | 'msgType' | 'runIdPrefix' | 'runIdCount' | 'size'>): (seq: number) => string {
  const sample = `{"t":${nowMs().toFixed(3)},"msg_type":"${request.msgType}","run_id":"${request.runIdPrefix}${request.runIdCount - 1}","namespace":"bench","sender":"bench-publisher","seq":${request.count},"pad":""}`;
  const pad = 'x'.repeat(Math.max(0, request.size - sample.length));
  const { msgType, runIdPrefix, runIdCount } = request;
  return (seq) =>
    `{"t":${nowMs().toFixed(3)},"msg_type":"${msgType}","run_id":"${runIdPrefix}${seq % runIdCount}","namespace":"bench","sender":"bench-publisher","seq":${seq},"pad":"${pad}"}`;
}

/**
 * Token bucket: calls `sendNext` `count` times at `rate` msg/s from `startedAt`
 * (at most BURST_SECONDS worth at once), or until `deadline`; resolves with
 * the time of the last send.
 */
function paced(count: number, rate: number, startedAt: number, deadline: number, sendNext: () => void): Promise<number> {
  const burst = Math.max(1, Math.ceil(rate * BURST_SECONDS));
  let sent = 0;
  let lastSentAt = startedAt;
  return new Promise<number>((resolve) => {
    const tick = () => {
      const now = nowMs();
      // Tokens earned since the start, less those spent; the first message goes at once.
      const earned = Math.min(count, Math.floor(((now - startedAt) / 1000) * rate) + 1);
      let due = Math.min(earned - sent, burst);
      while (due-- > 0) {
        sent++;
        sendNext();
      }
      if (sent > 0) lastSentAt = nowMs();
      if (sent >= count || now >= deadline) resolve(lastSentAt);
      else setTimeout(tick, 1);
    };
    tick();
  });
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
    lastSentAt = await paced(request.count, request.rate, startedAt, deadline, sendNext);
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

/** HTTP mode: the same bodies at the same pace, each one a POST; done when every POST is answered. */
async function publishHttp(request: HttpPublishRequest): Promise<PublishResult> {
  if (!(request.rate > 0)) throw new Error('HTTP mode publishes at a set rate only');
  let producer = httpProducers.get(request.url);
  if (!producer) httpProducers.set(request.url, (producer = new HttpProducer(request.url)));
  const target = producer;
  const make = bodyMaker(request);
  const answered = new Histogram();
  const answers: Promise<string | null>[] = [];
  const post = (body: string) => {
    const at = nowMs();
    return target.post(body).then((outcome) => {
      answered.record(nowMs() - at);
      return outcome;
    });
  };
  const startedAt = nowMs();
  const lastSentAt = await paced(request.count, request.rate, startedAt, startedAt + request.maxMs, () => answers.push(post(make(answers.length))));
  const outcomes = await Promise.all(answers);
  const confirmedAt = nowMs();
  const failures: Record<string, number> = {};
  for (const outcome of outcomes) if (outcome !== null) failures[outcome] = (failures[outcome] ?? 0) + 1;
  const window = Math.max(lastSentAt - startedAt, 1) / 1000;
  // Only answered (2xx) POSTs count as sent: a failed one was never published.
  const sent = outcomes.length - Object.values(failures).reduce((a, b) => a + b, 0);
  return { sent, startedAt, lastSentAt, confirmedAt, rate: outcomes.length / window, probe: null, failures, answered: answered.toData() };
}

async function handle(request: PublisherRequest): Promise<Record<string, unknown>> {
  switch (request.type) {
    case 'connect':
      publisher = await connectProducer(request.host, request.port, request.noDelay);
      return {};
    case 'publish':
      return { ...(await publish(request)) };
    case 'publish-http':
      return { ...(await publishHttp(request)) };
    case 'close':
      for (const producer of httpProducers.values()) producer.close();
      await publisher?.close();
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

serveRequests(handle);
