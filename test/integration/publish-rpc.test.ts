// HTTP publish forwarded from a web process to the listener through the shared Redis: the answer
// arrives on another connection than the request, so it may come before the request's own reply.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { PublishForwarder, PublishServer } from '../../src/cluster/publish-rpc.js';
import { connectRedis, redisKeys } from '../../src/cluster/redis.js';
import { parseRedisUrl } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { sharedRedisUrl } from '../helpers/redis.js';

/** How long the forwarder's wait for its answer lasts (REPLY_TIMEOUT_MS in publish-rpc.ts), and a margin. */
const REPLY_TIMEOUT_MS = 10_000;

/**
 * `redis`, except that each LPUSH's reply reaches the caller `delayMs` late. The push itself goes to
 * Redis at once, so the listener answers before the forwarder hears that its request was queued —
 * the order a loaded machine can produce.
 */
function withLateLpushReplies(redis: Redis, delayMs: number): Redis {
  return new Proxy(redis, {
    get(target, prop, receiver) {
      if (prop !== 'lpush') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<Redis['lpush']>) => {
        const reply = await target.lpush(...args);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return reply;
      };
    },
  });
}

describe('publish forwarding (web process → listener, over Redis)', () => {
  const log = pino({ level: 'silent' });
  const connections: Redis[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let url: string;
  let server: PublishServer;
  let keys: ReturnType<typeof redisKeys>;

  const connect = (name: string, blocking = false) => {
    const c = connectRedis(parseRedisUrl(url), { name, blocking });
    connections.push(c);
    return c;
  };

  before(async () => {
    url = await sharedRedisUrl();
    keys = redisKeys(`publish-rpc-${randomUUID()}`);
    // The listener refuses every body, as it refuses an invalid one.
    const refuse = async () => {
      throw new AppError('BAD_REQUEST', 'msg_type: must not be empty', { reason: 'invalid_workflow' });
    };
    server = new PublishServer(connect('listener'), connect('listener-blocking', true), keys.publishRequests, refuse, log);
    server.start();
    process.on('unhandledRejection', onUnhandled);
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await server.stop();
    const cleanup = connect('cleanup');
    await cleanup.del(keys.publishRequests);
    for (const c of connections) c.disconnect();
  });

  test("a refusal that arrives before LPUSH's reply reaches the caller, and nothing is left unhandled", async () => {
    const forwarder = new PublishForwarder(withLateLpushReplies(connect('web'), 300), connect('web-subscriber', true), { requests: keys.publishRequests, replies: keys.publishReplies('web-a') }, 'web-a');
    try {
      await assert.rejects(forwarder.forward(Buffer.from('{"msg_type": ""}'), 'tester'), (err: unknown) => {
        assert.ok(err instanceof AppError, String(err));
        assert.equal(err.code, 'BAD_REQUEST');
        assert.deepEqual(err.extra, { reason: 'invalid_workflow' });
        return true;
      });
      // Unhandled rejections are reported after the turn in which they happen: give it a few.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(unhandled, [], 'no unhandled rejection (it would end a web process)');
    } finally {
      await forwarder.close();
    }
  });

  test('an LPUSH that fails is a 503 at once, and no answer timer outlives it', async () => {
    // A connection that is already closed: ioredis refuses commands on it at once.
    const closed = connect('web-closed');
    closed.disconnect();
    const forwarder = new PublishForwarder(closed, connect('web-subscriber-2', true), { requests: keys.publishRequests, replies: keys.publishReplies('web-b') }, 'web-b');
    try {
      const started = Date.now();
      await assert.rejects(forwarder.forward(Buffer.from('{"msg_type": "x"}'), 'tester'), (err: unknown) => {
        assert.ok(err instanceof AppError, String(err));
        assert.equal(err.code, 'UNAVAILABLE');
        assert.equal(err.retryAfter, 5);
        return true;
      });
      assert.ok(Date.now() - started < REPLY_TIMEOUT_MS / 2, 'answered at once, not after the answer timeout');
      // Before the fix the answer timer still fired after REPLY_TIMEOUT_MS and rejected a promise no one held.
      await new Promise((resolve) => setTimeout(resolve, REPLY_TIMEOUT_MS + 500));
      assert.deepEqual(unhandled, [], 'no unhandled rejection once the answer timeout has passed');
    } finally {
      await forwarder.close();
    }
  });
});
