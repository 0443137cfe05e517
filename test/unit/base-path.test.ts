// BASE_PATH routing: which URLs lie under the prefix, and what the router sees of them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { basePathRewriter, mountOf } from '../../src/http/base-path.js';

const request = (originalUrl: string) => ({ originalUrl }) as FastifyRequest;

describe('basePathRewriter', () => {
  const rewrite = basePathRewriter('/swf-monitor')!;
  const routed = (url: string) => rewrite({ url });

  it('strips the prefix once, keeping the rest of the path and the query', () => {
    assert.equal(routed('/swf-monitor/api/messages/stream/?msg_types=a,b'), '/api/messages/stream/?msg_types=a,b');
    assert.equal(routed('/swf-monitor/api/messages/stream/status/'), '/api/messages/stream/status/');
    assert.equal(routed('/swf-monitor/'), '/');
    assert.equal(routed('/swf-monitor'), '/');
    assert.equal(routed('/swf-monitor?x=1'), '/?x=1');
    assert.equal(routed('/swf-monitor/swf-monitor/healthz'), '/swf-monitor/healthz', 'only once');
  });

  it('leaves everything else alone: the root, and paths that merely start with the same letters', () => {
    for (const url of ['/', '/healthz', '/api/messages/stream/', '/swf-monitorX/api/messages/stream/', '/swf-monitor-old/healthz', '/swf-monitorx', '/SWF-MONITOR/healthz', '/swf%2Dmonitor/healthz', '/x/swf-monitor/healthz']) {
      assert.equal(routed(url), url, url);
    }
  });

  it('a multi-segment prefix works the same', () => {
    const deep = basePathRewriter('/a/b')!;
    assert.equal(deep({ url: '/a/b/healthz' }), '/healthz');
    assert.equal(deep({ url: '/a/bc/healthz' }), '/a/bc/healthz');
    assert.equal(deep({ url: '/a/healthz' }), '/a/healthz');
  });

  it('no prefix: no rewriting at all', () => {
    assert.equal(basePathRewriter(''), undefined);
  });
});

describe('mountOf', () => {
  it('is the prefix for a request that came under it, else the empty string', () => {
    assert.equal(mountOf(request('/swf-monitor/api/messages/?limit=1'), '/swf-monitor'), '/swf-monitor');
    assert.equal(mountOf(request('/swf-monitor'), '/swf-monitor'), '/swf-monitor');
    assert.equal(mountOf(request('/api/messages/?limit=1'), '/swf-monitor'), '');
    assert.equal(mountOf(request('/swf-monitorX/api/messages/'), '/swf-monitor'), '');
    assert.equal(mountOf(request('/swf-monitor/api/messages/'), ''), '');
  });
});
