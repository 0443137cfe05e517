import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/errors.js';
import {
  FILTER_PARAMS,
  MAX_FILTER_VALUE_LENGTH,
  MAX_FILTER_VALUES,
  NO_FILTERS,
  filtersToJson,
  matches,
  parseFilters,
  type Filterable,
  type FilterParam,
  type Filters,
} from '../../src/model/filter.js';
import { AGENT_STATUS } from '../../src/model/message.js';

const set = (...values: string[]) => new Set(values);

/** The sets of parsed filters as sorted arrays (null stays null), for deepEqual. */
function plain(f: Filters) {
  const list = (s: ReadonlySet<string> | null) => (s === null ? null : [...s].sort());
  return { msgTypes: list(f.msgTypes), agents: list(f.agents), runIds: list(f.runIds), namespaces: list(f.namespaces) };
}

function assertBadFilter(fn: () => unknown, param: FilterParam) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, 'an AppError');
    assert.equal(err.code, 'BAD_FILTER');
    assert.equal(err.status, 400);
    assert.deepEqual(err.extra, { param });
    assert.match(err.message, new RegExp(param));
    return true;
  });
}

describe('parseFilters', () => {
  it('no parameters → no filters', () => {
    assert.deepEqual(plain(parseFilters({})), { msgTypes: null, agents: null, runIds: null, namespaces: null });
  });

  it('reads comma-separated lists for each of the four parameters', () => {
    const f = parseFilters({ msg_types: 'stf_gen,data_ready', agents: 'a1,a2', run_ids: '100042,100043', namespaces: 'ns1,ns2' });
    assert.deepEqual(plain(f), {
      msgTypes: ['data_ready', 'stf_gen'],
      agents: ['a1', 'a2'],
      runIds: ['100042', '100043'],
      namespaces: ['ns1', 'ns2'],
    });
  });

  it('accepts repeated parameters (arrays), each of which may itself be a list', () => {
    const f = parseFilters({ msg_types: ['a', 'b,c'], run_ids: ['1'] });
    assert.deepEqual(plain(f).msgTypes, ['a', 'b', 'c']);
    assert.deepEqual(plain(f).runIds, ['1']);
  });

  it('trims values and drops empty ones', () => {
    const f = parseFilters({ msg_types: '  a , b,, ,c  ', agents: [' x ', ''] });
    assert.deepEqual(plain(f).msgTypes, ['a', 'b', 'c']);
    assert.deepEqual(plain(f).agents, ['x']);
  });

  it('an empty value (or only commas and spaces) means no filter', () => {
    for (const v of ['', ',', ' , ,', ['', ' ']]) {
      assert.equal(parseFilters({ msg_types: v }).msgTypes, null, JSON.stringify(v));
    }
  });

  it('ignores other query parameters', () => {
    assert.deepEqual(plain(parseFilters({ last_event_id: '5', token: 'x', msg_type: 'a' })), plain(NO_FILTERS));
  });

  for (const param of FILTER_PARAMS) {
    it(`${param}: ${MAX_FILTER_VALUES} values accepted, ${MAX_FILTER_VALUES + 1} → BAD_FILTER naming it`, () => {
      const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
      const ok = parseFilters({ [param]: values(MAX_FILTER_VALUES).join(',') });
      assert.equal(Object.values(ok).find((s) => s !== null)?.size, MAX_FILTER_VALUES);
      assertBadFilter(() => parseFilters({ [param]: values(MAX_FILTER_VALUES + 1).join(',') }), param);
      // Counted across repeated parameters too.
      assertBadFilter(() => parseFilters({ [param]: values(MAX_FILTER_VALUES + 1) }), param);
    });

    it(`${param}: a ${MAX_FILTER_VALUE_LENGTH}-character value accepted, ${MAX_FILTER_VALUE_LENGTH + 1} → BAD_FILTER`, () => {
      assert.ok(parseFilters({ [param]: 'v'.repeat(MAX_FILTER_VALUE_LENGTH) }));
      assertBadFilter(() => parseFilters({ [param]: 'v'.repeat(MAX_FILTER_VALUE_LENGTH + 1) }), param);
    });

    it(`${param}: control characters → BAD_FILTER`, () => {
      for (const ch of ['\u0000', '\u0001', '\n', '\r', '\u001f', '\u007f']) {
        assertBadFilter(() => parseFilters({ [param]: `a${ch}b` }), param);
      }
    });

    it(`${param}: a non-string value → BAD_FILTER`, () => {
      assertBadFilter(() => parseFilters({ [param]: 5 }), param);
      assertBadFilter(() => parseFilters({ [param]: ['a', { b: 1 }] }), param);
    });
  }

  it('names the first bad parameter even when others are fine', () => {
    assertBadFilter(() => parseFilters({ msg_types: 'a', namespaces: 'x'.repeat(201) }), 'namespaces');
  });

  it('duplicates count once toward the limit', () => {
    const f = parseFilters({ msg_types: Array(MAX_FILTER_VALUES + 5).fill('same').join(',') });
    assert.deepEqual(plain(f).msgTypes, ['same']);
  });
});

describe('filtersToJson', () => {
  it('lists each parameter, empty when unfiltered', () => {
    assert.deepEqual(filtersToJson(parseFilters({ msg_types: 'a,b', run_ids: '1' })), {
      msg_types: ['a', 'b'],
      agents: [],
      run_ids: ['1'],
      namespaces: [],
    });
  });
});

describe('matches', () => {
  const filters = (f: Partial<Filters>): Filters => ({ ...NO_FILTERS, ...f });
  const ev = (e: Partial<Filterable>): Filterable => ({
    msgType: 'stf_gen',
    runId: '100042',
    namespace: 'torre-dev',
    senderAgent: 'daq',
    processedBy: null,
    ...e,
  });

  it('no filters match every workflow message, including one without any optional field', () => {
    assert.equal(matches(NO_FILTERS, ev({})), true);
    assert.equal(matches(NO_FILTERS, ev({ runId: null, namespace: null, senderAgent: null })), true);
  });

  it('msg_types alone', () => {
    const f = filters({ msgTypes: set('stf_gen', 'data_ready') });
    assert.equal(matches(f, ev({ msgType: 'stf_gen' })), true);
    assert.equal(matches(f, ev({ msgType: 'data_ready' })), true);
    assert.equal(matches(f, ev({ msgType: 'end_run' })), false);
  });

  it('run_ids alone, matching run_id as a string', () => {
    const f = parseFilters({ run_ids: '100042,test-run-001' });
    assert.equal(matches(f, ev({ runId: '100042' })), true);
    assert.equal(matches(f, ev({ runId: 'test-run-001' })), true);
    assert.equal(matches(f, ev({ runId: '100043' })), false);
    assert.equal(matches(f, ev({ runId: null })), false);
    assert.equal(matches(f, ev({ runId: '0100042' })), false, 'compared as strings, not numbers');
  });

  it('namespaces alone', () => {
    const f = filters({ namespaces: set('torre-dev') });
    assert.equal(matches(f, ev({ namespace: 'torre-dev' })), true);
    assert.equal(matches(f, ev({ namespace: 'epicprod' })), false);
    assert.equal(matches(f, ev({ namespace: null })), false);
  });

  it('agents alone matches sender_agent or processed_by', () => {
    const f = filters({ agents: set('data-agent', 'proc-agent') });
    assert.equal(matches(f, ev({ senderAgent: 'data-agent' })), true, 'by sender');
    assert.equal(matches(f, ev({ senderAgent: 'other', processedBy: 'proc-agent' })), true, 'by processor');
    assert.equal(matches(f, ev({ senderAgent: null, processedBy: 'proc-agent' })), true, 'by processor, no sender');
    assert.equal(matches(f, ev({ senderAgent: 'data-agent', processedBy: 'proc-agent' })), true, 'by both');
    assert.equal(matches(f, ev({ senderAgent: 'other', processedBy: 'another' })), false);
    assert.equal(matches(f, ev({ senderAgent: null, processedBy: null })), false);
  });

  it('combined filters: AND across filters, OR within one', () => {
    const f = parseFilters({ msg_types: 'stf_gen,data_ready', run_ids: '100042', namespaces: 'torre-dev', agents: 'daq,proc' });
    assert.equal(matches(f, ev({})), true);
    assert.equal(matches(f, ev({ msgType: 'data_ready', senderAgent: 'x', processedBy: 'proc' })), true);
    assert.equal(matches(f, ev({ msgType: 'end_run' })), false, 'msg_type fails');
    assert.equal(matches(f, ev({ runId: '1' })), false, 'run_id fails');
    assert.equal(matches(f, ev({ namespace: 'epicprod' })), false, 'namespace fails');
    assert.equal(matches(f, ev({ senderAgent: 'x' })), false, 'agents fail');
  });

  it('agent_status events match only when msg_types asks for agent_status', () => {
    const status = ev({ msgType: AGENT_STATUS, runId: null, namespace: 'torre-dev', senderAgent: 'daq' });
    assert.equal(matches(NO_FILTERS, status), false, 'unfiltered clients do not get agent_status');
    assert.equal(matches(filters({ agents: set('daq') }), status), false, 'an agents filter alone does not ask for it');
    assert.equal(matches(filters({ namespaces: set('torre-dev') }), status), false);
    assert.equal(matches(filters({ msgTypes: set('stf_gen') }), status), false);
    assert.equal(matches(filters({ msgTypes: set(AGENT_STATUS) }), status), true);
    assert.equal(matches(filters({ msgTypes: set('stf_gen', AGENT_STATUS), agents: set('daq') }), status), true);
    assert.equal(matches(filters({ msgTypes: set(AGENT_STATUS), agents: set('other') }), status), false, 'other filters still apply');
  });
});
