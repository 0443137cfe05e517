// The scaled-out deployment the chaos campaign runs on: a private ActiveMQ and Redis, a fresh
// PostgreSQL database, two `swf-relay listen` (one holds the lease) and two `swf-relay serve` on
// fixed ports (so readers keep their addresses when a web process is replaced).
import { randomUUID } from 'node:crypto';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';
import { deploymentEnv, freePort, makeToken, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';

/** Log lines of a listener winning and losing the lease (any cause: lost, expired, refused by the store). */
const ACQUIRED = '"msg":"listener lease acquired"';
const LET_GO = 'stopping consumption';

export interface Topology {
  readonly broker: PrivateBroker;
  readonly redis: PrivateRedis;
  readonly pg: TestDatabase;
  readonly topic: string;
  readonly token: string;
  /** The two listener slots; a killed one is replaced by a new process in its slot. */
  readonly listeners: RelayProcess[];
  /** The two web slots, on fixed ports. */
  readonly webs: RelayProcess[];
  readonly webUrls: readonly string[];
  /** Processes frozen with SIGSTOP right now (not to be picked for another fault). */
  readonly frozen: Set<number>;
  /** The listener that holds the lease (claimed the store and has not let go since), if any. */
  holder(): RelayProcess | undefined;
  replaceListener(slot: number): Promise<void>;
  replaceWeb(slot: number): Promise<void>;
  /** Every process alive; both web processes ready; one listener subscribed as the holder. */
  settled(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startTopology(): Promise<Topology> {
  const [broker, redis, pg] = await Promise.all([startActiveMQ(), startPrivateRedis(), createTestDatabase()]);
  const group = `chaos-${randomUUID()}`;
  const env = deploymentEnv({ databaseUrl: pg.url, redisUrl: redis.url, brokerPort: broker.port }, group);
  const topic = env.ACTIVEMQ_HEARTBEAT_TOPIC!;
  const token = await makeToken(env);
  const ports = [await freePort(), await freePort()];
  const listeners: RelayProcess[] = [];
  const webs: RelayProcess[] = [];
  const retired: RelayProcess[] = [];
  const frozen = new Set<number>();
  const listen = () => startRelay(env, { command: 'listen' });
  const serve = (slot: number) => startRelay({ ...env, PORT: String(ports[slot]) }, { command: 'serve' });

  const stopAll = async () => {
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    await Promise.all([...listeners, ...webs, ...retired].map((p) => p.stop('SIGKILL')));
    await Promise.all([broker.stop(), redis.stop(), pg.drop()]);
  };
  try {
    listeners.push(await listen());
    await waitUntil(() => listeners[0]!.output().includes('"msg":"subscribed"'), 'the first listener to subscribe', listeners[0]!.output);
    listeners.push(await listen());
    webs.push(await serve(0), await serve(1));
  } catch (err) {
    await stopAll(); // a failed start must not leave servers holding the test process open
    throw err;
  }

  const holds = (p: RelayProcess) => p.alive() && p.output().lastIndexOf(ACQUIRED) > p.output().lastIndexOf(LET_GO);
  return {
    broker,
    redis,
    pg,
    topic,
    token,
    listeners,
    webs,
    webUrls: ports.map((port) => `http://127.0.0.1:${port}`),
    frozen,
    holder: () => listeners.find((p) => holds(p) && !frozen.has(p.pid)),
    async replaceListener(slot) {
      retired.push(listeners[slot]!);
      listeners[slot] = await listen();
    },
    async replaceWeb(slot) {
      retired.push(webs[slot]!);
      webs[slot] = await serve(slot);
    },
    async settled() {
      if (frozen.size > 0 || ![...listeners, ...webs].every((p) => p.alive())) return false;
      for (const web of webs) {
        const ready = await fetch(`${web.url}/readyz`).catch(() => null);
        if (ready?.status !== 200) return false;
      }
      const holder = listeners.filter(holds);
      return holder.length === 1 && holder[0]!.output().lastIndexOf('"msg":"subscribed"') > holder[0]!.output().lastIndexOf(ACQUIRED);
    },
    stop: stopAll,
  };
}
