// The live page: sign-in, a filtered live table with lossless reconnect, counters,
// a rate chart, agents and subscribers. Plain ES module, no build step, no CDN.
//
// The stream is read with fetch() rather than EventSource: EventSource only hands
// a page the event names it registered in advance, and workflow message types are
// open-ended. The reader keeps EventSource's contract: `retry:`, and Last-Event-ID
// on every reconnect, so nothing is missed while the connection is down.
//
// Every URL here is relative (no leading `/`): the page works wherever it is
// served, at the root or under BASE_PATH (`/swf-monitor/`), and so do its calls.

const TABLE_CAP = 500;
const RATE_SECONDS = 300;
const STALE_AGENT_SECONDS = 90;
const FILTERS = ['msg_types', 'agents', 'run_ids', 'namespaces'];

const $ = (id) => document.getElementById(id);
const state = {
  lastId: null,
  events: 0,
  gaps: 0,
  byType: new Map(),
  perSecond: new Array(RATE_SECONDS).fill(0),
  secondNow: Math.floor(Date.now() / 1000),
  agents: new Map(),
  messageStream: null,
  messagesGeneration: 0,
  agentStream: null,
  timers: [],
};

// ---- SSE over fetch ----------------------------------------------------------

/**
 * Reads one stream forever (until `stop()`): reconnects after `retry` ms with the last id.
 * `fromId` is sent as Last-Event-ID on the first connect too, so what was stored between
 * the page's history request and this connect is replayed, not missed.
 */
function openStream(path, onEvent, onState, fromId = null) {
  let stopped = false;
  let retryMs = 3000;
  let controller;
  let lastId = fromId;
  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = { Accept: 'text/event-stream' };
        if (lastId !== null) headers['Last-Event-ID'] = lastId;
        onState('reconnecting');
        const res = await fetch(path, { headers, credentials: 'same-origin', signal: controller.signal });
        if (res.status === 401) return onState('unauthorized');
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        onState('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let frame = { data: [], event: 'message', id: null };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let newline;
          while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
            if (line === '') {
              if (frame.id !== null) lastId = frame.id;
              if (frame.data.length > 0) onEvent(frame.event, frame.data.join('\n'), frame.id);
              frame = { data: [], event: 'message', id: null };
              continue;
            }
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? '' : line.slice(colon + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (field === 'data') frame.data.push(value);
            else if (field === 'event') frame.event = value;
            else if (field === 'id') frame.id = value;
            else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
          }
        }
      } catch (err) {
        if (stopped) return;
      }
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  const stream = {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
  void run();
  return stream;
}

// ---- sign-in -------------------------------------------------------------------

async function api(path, options = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...options, headers: { 'Content-Type': 'application/json', ...(options.headers ?? {}) } });
  const body = await res.json().catch(() => ({}));
  return { status: res.status, body };
}

function showLogin(message = '') {
  stopAll();
  $('main').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login').hidden = false;
  $('login-error').textContent = message;
  setBadge('offline');
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const token = String(form.get('token') ?? '').trim();
  const body = token ? { token } : { username: form.get('username'), password: form.get('password') };
  const { status, body: answer } = await api('api/auth/login', { method: 'POST', body: JSON.stringify(body) });
  if (status !== 200) return showLogin(answer.detail ?? `sign-in failed (${status})`);
  event.target.reset();
  await startPage(answer.username);
}

async function signOut() {
  await api('api/auth/logout', { method: 'POST', body: '{}' });
  showLogin('Signed out.');
}

// ---- the live view -----------------------------------------------------------

function currentFilters() {
  const params = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const name of FILTERS) {
    const value = params.getAll(name).join(',').trim();
    if (value) out.set(name, value);
  }
  return out;
}

function setBadge(status) {
  const badge = $('badge');
  badge.className = `badge ${status}`;
  badge.textContent = status;
}

function updateCounts() {
  $('counts').textContent = `${state.events} events · ${state.gaps} gaps`;
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  td.title = text ?? '';
  row.append(td);
}

function addMessage(payload, id, fresh) {
  const row = document.createElement('tr');
  if (fresh) row.className = 'fresh';
  row.dataset.id = id ?? '';
  const time = payload.sent_at ? new Date(payload.sent_at).toLocaleTimeString() : '';
  cell(row, time);
  cell(row, id);
  cell(row, payload.msg_type);
  cell(row, payload.run_id === undefined || payload.run_id === null ? '' : String(payload.run_id));
  cell(row, payload.sender_agent);
  cell(row, payload.recipient_agent);
  cell(row, payload.namespace);
  row.addEventListener('click', () => {
    $('detail-json').textContent = JSON.stringify(payload, null, 2);
    $('detail').showModal();
  });
  const body = $('messages').tBodies[0];
  body.prepend(row);
  while (body.rows.length > TABLE_CAP) body.deleteRow(body.rows.length - 1);
}

function countMessage(msgType) {
  state.events++;
  state.byType.set(msgType, (state.byType.get(msgType) ?? 0) + 1);
  tickRate(1);
  updateCounts();
  const list = $('types');
  list.replaceChildren(
    ...[...state.byType.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([type, count]) => {
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.textContent = type;
        const n = document.createElement('span');
        n.textContent = String(count);
        li.append(name, n);
        return li;
      }),
  );
}

function addGap(gap) {
  state.gaps++;
  updateCounts();
  const list = $('gaps');
  list.querySelector('.none')?.remove();
  const li = document.createElement('li');
  li.textContent = `${gap.reason}: ${gap.dropped} event(s), ids ${gap.from_id ?? '?'}–${gap.to_id ?? '?'}`;
  list.prepend(li);
}

function onMessageEvent(name, data, id) {
  if (name === 'heartbeat' || name === 'connected' || name === 'shutdown') return;
  const payload = JSON.parse(data);
  if (name === 'gap') return addGap(payload);
  if (id !== null) state.lastId = id;
  addMessage(payload, id, true);
  countMessage(payload.msg_type ?? name);
}

// ---- rate chart -----------------------------------------------------------------

function tickRate(add = 0) {
  const now = Math.floor(Date.now() / 1000);
  while (state.secondNow < now) {
    state.secondNow++;
    state.perSecond.push(0);
    state.perSecond.shift();
  }
  state.perSecond[state.perSecond.length - 1] += add;
}

function drawRate() {
  tickRate();
  const canvas = $('rate');
  const ctx = canvas.getContext('2d');
  const max = Math.max(1, ...state.perSecond);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#3b6fd4';
  const w = canvas.width / RATE_SECONDS;
  state.perSecond.forEach((count, i) => {
    const h = (count / max) * (canvas.height - 14);
    ctx.fillRect(i * w, canvas.height - h, Math.max(1, w - 0.2), h);
  });
  ctx.fillStyle = '#6b7385';
  ctx.font = '11px system-ui';
  ctx.fillText(`max ${max}/s`, 4, 11);
}

// ---- agents and subscribers ---------------------------------------------------

function renderAgents() {
  const now = Date.now();
  const rows = [...state.agents.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((agent) => {
      const row = document.createElement('tr');
      const age = Math.max(0, Math.round((now - Date.parse(agent.last_heartbeat)) / 1000));
      if (age > STALE_AGENT_SECONDS) row.className = 'stale';
      cell(row, agent.name);
      cell(row, agent.agent_type);
      cell(row, agent.status);
      cell(row, `${age} s ago`);
      return row;
    });
  $('agents').tBodies[0].replaceChildren(...rows);
}

async function loadAgents() {
  const { status, body } = await api('api/agents/');
  if (status !== 200) return;
  for (const agent of body.results) state.agents.set(agent.name, agent);
  renderAgents();
}

function onAgentEvent(name, data) {
  if (name !== 'agent_status') return;
  const beat = JSON.parse(data);
  state.agents.set(beat.agent_name, { name: beat.agent_name, agent_type: beat.agent_type ?? null, status: beat.status, last_heartbeat: beat.sent_at });
  renderAgents();
}

async function loadSubscribers() {
  const { status, body } = await api('api/messages/stream/status/');
  if (status !== 200) return;
  const rows = body.clients.map((c) => {
    const row = document.createElement('tr');
    const filters = Object.entries(c.filters)
      .filter(([, v]) => v.length > 0)
      .map(([k, v]) => `${k}=${v.join(',')}`)
      .join(' ');
    cell(row, c.user);
    cell(row, c.process);
    cell(row, filters || 'all');
    cell(row, String(c.events_sent));
    cell(row, String(c.events_dropped));
    return row;
  });
  $('subscribers').tBodies[0].replaceChildren(...rows);
}

// ---- lifecycle --------------------------------------------------------------------

function stopAll() {
  state.messagesGeneration++; // a startMessages still awaiting its history opens nothing
  state.messageStream?.stop();
  state.agentStream?.stop();
  for (const timer of state.timers) clearInterval(timer);
  state.messageStream = state.agentStream = null;
  state.timers = [];
}

/** Shows the newest stored messages, then goes live from the newest id: no gap, no duplicate. */
async function startMessages() {
  const generation = ++state.messagesGeneration;
  const filters = currentFilters();
  setBadge('reconnecting');
  $('messages').tBodies[0].replaceChildren();
  state.lastId = null;
  // A filtered history may hold nothing; the stream then starts from the newest id overall,
  // read *before* the history so that a message stored in between is in one or the other.
  const newest = filters.size > 0 ? await newestId() : '0';
  const { status, body } = await api(`api/messages/?${filters}&limit=50`);
  if (generation !== state.messagesGeneration) return; // filters changed again meanwhile
  if (status === 401) return showLogin();
  if (status === 200) {
    for (const m of [...body.results].reverse()) addMessage(m.message, m.id, false);
    state.lastId = body.results[0]?.id ?? newest;
  }
  const onState = (s) => {
    if (s === 'unauthorized') return showLogin('Your session ended; sign in again.');
    setBadge(s);
  };
  state.messageStream = openStream(`api/messages/stream/?${filters}`, onMessageEvent, onState, state.lastId);
}

/** The newest stored id overall, so a filtered view starts live from now. */
async function newestId() {
  const { status, body } = await api('api/messages/?limit=1');
  return status === 200 ? body.results[0]?.id ?? '0' : null;
}

async function startPage(username) {
  stopAll();
  $('login').hidden = true;
  $('main').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = username;
  const filters = currentFilters();
  for (const name of FILTERS) $('filters').elements[name].value = filters.get(name) ?? '';
  await startMessages();
  state.agentStream = openStream('api/messages/stream/?msg_types=agent_status', onAgentEvent, () => {});
  await loadAgents();
  await loadSubscribers();
  state.timers.push(setInterval(drawRate, 1000), setInterval(renderAgents, 5000), setInterval(loadSubscribers, 5000));
  drawRate();
}

function applyFilters(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = String(form.get(name) ?? '').trim();
    if (value) params.set(name, value);
  }
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
  state.messageStream?.stop();
  void startMessages();
}

async function main() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
  $('filters').addEventListener('submit', applyFilters);
  const { status, body } = await api('api/auth/session');
  if (status === 200) await startPage(body.username);
  else showLogin();
}

void main();
