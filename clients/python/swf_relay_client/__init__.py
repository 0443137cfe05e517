#!/usr/bin/env python3
"""Python client for swf-relay's event stream (standard library only, Python 3.9+).

This file is the whole client: installed as a package (``pip install ./clients/python``)
it is ``swf_relay_client/__init__.py``; copied alone it works as ``swf_relay_client.py``.

Iterate the workflow messages the relay pushes as Server-Sent Events::

    import os
    from swf_relay_client import RelayClient

    client = RelayClient("https://relay.example.org", token=os.environ["SWF_API_TOKEN"],
                         msg_types=["stf_gen", "data_ready"], state_file="relay.state")
    for event in client.events():
        print(event.id, event.event, event.data.get("run_id"), event.data.get("filename"))

It reconnects by itself (exponential backoff with full jitter) and sends the
id of the last event it gave you as ``Last-Event-ID``, so the relay replays
what was published meanwhile: nothing is missed, nothing comes twice. With
``state_file`` that id survives restarts of your program too. A connection on
which nothing arrives for twice the relay's heartbeat interval is treated as
dead and reopened. When the relay cannot deliver some events (``gap``), your
``on_gap`` callback is told which ids were skipped.

Run as a program it prints events, like ``swf-relay receive``::

    SWF_API_TOKEN=... swf-relay-receive https://relay.example.org --msg-types stf_gen --json
    SWF_API_TOKEN=... python3 -m swf_relay_client https://relay.example.org ...   # the same
"""

import argparse
import codecs
import http.client
import json
import logging
import os
import random
import re
import signal
import socket
import ssl
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

__all__ = [
    "RelayClient",
    "Event",
    "Gap",
    "SseParser",
    "SseMessage",
    "RelayError",
    "AuthenticationError",
    "RequestRefused",
    "RelayUnreachable",
    "StateFileError",
    "stream_url",
    "backoff_delay",
    "load_state",
    "save_state",
    "main",
]

__version__ = "0.1.0"

STREAM_PATH = "api/messages/stream/"
DEFAULT_URL = "http://127.0.0.1:8000"
#: Heartbeat interval assumed until two heartbeats have shown the relay's real one (its default).
DEFAULT_HEARTBEAT_INTERVAL = 30.0
#: The relay's own event names; everything else is a relayed message.
CONTROL_EVENTS = frozenset(["connected", "heartbeat", "gap", "shutdown"])
#: Longest line accepted from the stream (characters); longer means the stream is broken.
MAX_LINE_LENGTH = 128 * 1024 * 1024

log = logging.getLogger("swf_relay_client")


# --- errors --------------------------------------------------------------------------------------


class RelayError(Exception):
    """Base of the errors that end ``events()``; ``exit_code`` is what the command line exits with."""

    exit_code = 1


class StateFileError(RelayError):
    """The state file cannot be read, holds something else, or cannot be written."""

    exit_code = 2


class AuthenticationError(RelayError):
    """The relay answered 401 or 403: missing, wrong or revoked token."""

    exit_code = 3


class RequestRefused(RelayError):
    """The relay refused the request: 400 (bad filter, bad Last-Event-ID), 404 (wrong URL), or not an event stream."""

    exit_code = 4


class RelayUnreachable(RelayError):
    """The relay could not be reached within ``connect_timeout``, or not again within ``retry_limit`` tries."""

    exit_code = 5


# --- the event stream format ---------------------------------------------------------------------


@dataclass(frozen=True)
class SseMessage:
    """One event as dispatched by the SSE format: name, data, the id of its own block, the running last id."""

    event: str
    data: str
    id: Optional[str]
    last_event_id: str


class SseParser:
    """Incremental event-stream parser (HTML spec): feed decoded text in any pieces, get complete events.

    Lines end in CRLF, LF or CR (also when split between pieces); a leading BOM is skipped;
    comments are ignored; a block without ``data:`` dispatches nothing.
    """

    def __init__(self, max_line_length: int = MAX_LINE_LENGTH) -> None:
        self._max = max_line_length
        self._partial = ""
        self._skip_lf = False
        self._at_start = True
        self._data: List[str] = []
        self._event = ""
        self._block_id: Optional[str] = None
        self.last_event_id = ""
        #: The last valid ``retry:`` value (ms), if any.
        self.retry_ms: Optional[int] = None

    def feed(self, text: str) -> List[SseMessage]:
        """Parses the next piece of text; returns the events it completed, in order."""
        out: List[SseMessage] = []
        start = 0
        if self._at_start and text:
            self._at_start = False
            if text[0] == "\ufeff":
                start = 1
        if self._skip_lf and start < len(text):
            self._skip_lf = False
            if text[start] == "\n":
                start += 1
        i = start
        n = len(text)
        while i < n:
            c = text[i]
            if c == "\n" or c == "\r":
                self._line(self._partial + text[start:i], out)
                self._partial = ""
                if c == "\r":
                    if i + 1 < n:
                        if text[i + 1] == "\n":
                            i += 1
                    else:
                        self._skip_lf = True
                start = i + 1
            i += 1
        if start < n:
            self._partial += text[start:]
            if len(self._partial) > self._max:
                raise ValueError("event stream line longer than %d characters" % self._max)
        return out

    def _line(self, line: str, out: List[SseMessage]) -> None:
        if line == "":
            if self._data:
                out.append(SseMessage(self._event or "message", "\n".join(self._data), self._block_id, self.last_event_id))
            self._data = []
            self._event = ""
            self._block_id = None
            return
        if line[0] == ":":
            return
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._block_id = self.last_event_id = value
        elif field == "retry":
            if value.isdigit() and value.isascii():
                self.retry_ms = int(value)


# --- what the client yields ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A relayed event.

    ``event`` is the SSE event name (the ``msg_type``, ``agent_status`` for agent heartbeats,
    or ``message``); ``data`` the message as a dict (the raw text if it is not a JSON object);
    ``id`` the relay's event id (None for agent_status, which is not replayable).
    """

    id: Optional[str]
    event: str
    data: Any
    raw: str


@dataclass(frozen=True)
class Gap:
    """Events the relay will not deliver: ids ``from_id``..``to_id`` (``dropped`` of them), and why.

    Reasons: ``slow_client``, ``replay_limit``, ``retention``, ``unknown_id``. To fill a gap,
    reconnect with ``last_event_id=str(int(from_id) - 1)`` or page the relay's history.
    """

    reason: str
    from_id: Optional[str]
    to_id: Optional[str]
    dropped: Optional[int]


# --- pure helpers --------------------------------------------------------------------------------


def stream_url(base: str, msg_types: Iterable[str] = (), agents: Iterable[str] = (), run_ids: Iterable[str] = (), namespaces: Iterable[str] = ()) -> str:
    """The stream URL for ``base`` with the filters as comma-separated query parameters.

    A URL whose path already ends in ``/api/messages/stream`` is kept; otherwise the stream
    path is appended, so ``http://host:8000`` and ``https://host/swf-monitor`` both work.
    """
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL: %r" % base)
    path = parts.path.rstrip("/")
    path = path + "/" if path.endswith("/api/messages/stream") else "%s/%s" % (path, STREAM_PATH)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    for name, values in (("msg_types", msg_types), ("agents", agents), ("run_ids", run_ids), ("namespaces", namespaces)):
        cleaned = [str(v).strip() for v in values if str(v).strip()]
        if cleaned:
            query.append((name, ",".join(cleaned)))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), ""))


def backoff_delay(attempt: int, initial: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = first): full jitter, uniform in [0, min(cap, initial * 2**(attempt-1)))."""
    exponent = min(max(attempt, 1) - 1, 30)
    return rand() * min(cap, initial * (2 ** exponent))


def _valid_id(value: Any) -> Optional[str]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit() and value.isascii() and len(value) <= 18:
        return value
    return None


def load_state(path: str) -> Optional[str]:
    """The last event id saved in ``path`` (JSON ``{"last_event_id": "..."}`` or a bare id); None if the file does not exist."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateFileError("cannot read state file %s: %s" % (path, e)) from e
    if text == "":
        return None
    if _valid_id(text) is not None:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        if value.get("last_event_id") is None and "last_event_id" in value:
            return None
        found = _valid_id(value.get("last_event_id"))
        if found is not None:
            return found
    raise StateFileError('state file %s does not hold a last event id (expected {"last_event_id": "<id>"}); fix or delete it' % path)


def save_state(path: str, last_event_id: str, url: str = "") -> None:
    """Replaces ``path`` atomically (temp file beside it, then rename) with the last event id."""
    content = {"last_event_id": last_event_id, "url": url, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    temp = "%s.%d.tmp" % (path, os.getpid())
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(content) + "\n")
        os.replace(temp, path)
    except OSError as e:
        raise StateFileError("cannot write state file %s: %s" % (path, e)) from e


def _display(url: str) -> str:
    """The URL without credentials or a token parameter, for messages."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += ":%d" % parts.port
    query = [(k, "..." if k == "token" else v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, urllib.parse.urlencode(query), ""))


def _proxy_for(url: str) -> Optional[Tuple[str, int, Optional[str]]]:
    """(host, port, Proxy-Authorization) of the proxy the environment names for ``url`` (like urllib), or None; never for loopback."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:
        return None
    p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    auth = None
    if p.username is not None:
        import base64

        pair = "%s:%s" % (urllib.parse.unquote(p.username), urllib.parse.unquote(p.password or ""))
        auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return (p.hostname or "", p.port or 80, auth)


class _Retry(Exception):
    """This connection is over; reconnect (after at least ``min_delay`` seconds)."""

    def __init__(self, problem: str, min_delay: float = 0.0) -> None:
        super().__init__(problem)
        self.min_delay = min_delay


class _Deadline(Exception):
    """The ``timeout`` of events() has passed."""


# --- the client ----------------------------------------------------------------------------------


class RelayClient:
    """A reconnecting client of the relay's stream (``GET /api/messages/stream/``).

    ``url``: the relay (default ``$SWF_MONITOR_URL``, else http://127.0.0.1:8000); ``token``: the
    API key (default ``$SWF_API_TOKEN``), sent as ``Authorization: Token <key>``. Filters are lists
    of strings. ``state_file``: where the last event id is kept across runs. ``last_event_id``:
    resume after this id (overrides the state file). ``on_gap(Gap)``: called for each gap (default:
    a warning on the ``swf_relay_client`` logger). ``on_notice(str)``: connection trouble and
    recovery (default: the logger). ``heartbeat_timeout``: seconds of silence after which the
    connection is reopened (default: twice the heartbeat interval the relay shows, 60 s until
    seen; 0 disables). ``connect_timeout``: until the relay first answers, give up after this many
    seconds (RelayUnreachable; 0 = keep trying). ``retry_limit``: once connected, give up after this
    many failed reconnects in a row (default: never).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        msg_types: Sequence[str] = (),
        agents: Sequence[str] = (),
        run_ids: Sequence[str] = (),
        namespaces: Sequence[str] = (),
        state_file: Optional[str] = None,
        last_event_id: Optional[str] = None,
        on_gap: Optional[Callable[[Gap], None]] = None,
        on_notice: Optional[Callable[[str], None]] = None,
        heartbeat_timeout: Optional[float] = None,
        connect_timeout: float = 30.0,
        request_timeout: float = 10.0,
        max_backoff: float = 30.0,
        retry_limit: Optional[int] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        base = url or os.environ.get("SWF_MONITOR_URL", "").strip() or DEFAULT_URL
        self.url = stream_url(base, msg_types, agents, run_ids, namespaces)
        env_token = os.environ.get("SWF_API_TOKEN", "").strip()
        self.token = token if token is not None else (env_token or None)
        self.state_file = os.path.expanduser(state_file) if state_file else None
        if last_event_id is not None and _valid_id(last_event_id) is None:
            raise ValueError("last_event_id must be a decimal event id, got %r" % (last_event_id,))
        stored = load_state(self.state_file) if self.state_file else None
        self._last_id: Optional[str] = last_event_id if last_event_id is not None else stored
        self._saved_id = stored
        self.on_gap = on_gap or (lambda gap: log.warning("gap (%s): events %s-%s not delivered (%s)", gap.reason, gap.from_id, gap.to_id, gap.dropped))
        self.on_notice = on_notice or (lambda line: log.info("%s", line))
        self.heartbeat_timeout = heartbeat_timeout
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.max_backoff = max_backoff
        self.retry_limit = retry_limit
        self.ssl_context = ssl_context
        self._interval = DEFAULT_HEARTBEAT_INTERVAL
        self._ever_connected = False
        self._failures = 0
        self._conn: Optional[http.client.HTTPConnection] = None

    @property
    def last_event_id(self) -> Optional[str]:
        """The id of the last event handed out (or resumed from)."""
        return self._last_id

    def handled(self, event: Event) -> None:
        """Records ``event`` as handled now: its id becomes the Last-Event-ID and goes to the state file.

        events() does this by itself when you ask for the next event; call it yourself to be exact
        when you stop early.
        """
        if event.id is not None:
            self._last_id = event.id
        self.save_state()

    def save_state(self) -> None:
        """Writes the last event id to the state file now (events() does so when you ask for the next event)."""
        if self.state_file and self._last_id is not None and self._last_id != self._saved_id:
            save_state(self.state_file, self._last_id, _display(self.url))
            self._saved_id = self._last_id

    def close(self) -> None:
        """Closes the current connection, if any."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def events(self, max_events: Optional[int] = None, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yields relayed events in order, reconnecting as needed, until ``max_events`` or ``timeout`` seconds.

        An event counts as handled when you ask for the next one: then its id becomes the
        Last-Event-ID and is saved to the state file. If you leave the loop early (``break``),
        call ``handled(event)`` for the event you handled last; otherwise it comes again next
        time (at-least-once). Raises AuthenticationError, RequestRefused, RelayUnreachable,
        StateFileError.
        """
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        delivered = 0
        self._failures = 0
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    for event in self._connection(deadline):
                        yield event
                        # Asked for the next one: this one is handled.
                        self.handled(event)
                        delivered += 1
                        if max_events is not None and delivered >= max_events:
                            return
                    raise _Retry("the relay closed the stream")
                except _Deadline:
                    break
                except _Retry as retry:
                    self._failures += 1
                    failures = self._failures
                    delay = max(backoff_delay(failures, min(0.5, self.max_backoff), self.max_backoff), retry.min_delay)
                    elapsed = time.monotonic() - started
                    if not self._ever_connected and self.connect_timeout > 0 and elapsed + delay >= self.connect_timeout:
                        raise RelayUnreachable("cannot reach the relay at %s: %s (gave up after %.1f s)" % (_display(self.url), retry, elapsed)) from None
                    if self._ever_connected and self.retry_limit is not None and failures > self.retry_limit:
                        raise RelayUnreachable("lost the relay at %s: %s (gave up after %d retries)" % (_display(self.url), retry, self.retry_limit)) from None
                    self.on_notice("%s; retrying in %.1f s" % (retry, delay))
                    if deadline is not None:
                        delay = min(delay, max(0.0, deadline - time.monotonic()))
                    time.sleep(delay)
            if not self._ever_connected:
                raise RelayUnreachable("could not reach the relay at %s within the timeout" % _display(self.url))
        finally:
            self.close()

    # One connection: yields relayed events; raises _Retry when it ends, _Deadline at the deadline.
    def _connection(self, deadline: Optional[float]) -> Iterator[Event]:
        sock, resp = self._open(deadline)
        self._ever_connected = True
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parser = SseParser()
        previous_beat: Optional[float] = None
        shutdown = False
        while True:
            silence = self._silence()
            wait = silence if silence > 0 else None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Deadline()
                wait = left if wait is None else min(wait, left)
            sock.settimeout(wait)
            try:
                chunk = resp.read1(65536)
            except socket.timeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise _Deadline() from None
                raise _Retry("nothing received for %.1f s (no heartbeat)" % silence) from None
            except (OSError, http.client.HTTPException) as e:
                raise _Retry("connection lost (%s)" % (e.__class__.__name__ if not str(e) else e)) from None
            if not chunk:
                raise _Retry("the relay is shutting down" if shutdown else "the relay closed the stream")
            try:
                messages = parser.feed(decoder.decode(chunk))
            except ValueError as e:
                raise _Retry(str(e)) from None
            for m in messages:
                if m.event == "connected":
                    if self._failures > 0:
                        self.on_notice("connected again to %s%s" % (_display(self.url), "" if self._last_id is None else " (resuming after event %s)" % self._last_id))
                    self._failures = 0
                elif m.event == "heartbeat":
                    ts = _timestamp(m.data)
                    if ts is not None and previous_beat is not None and ts > previous_beat:
                        self._interval = ts - previous_beat
                    previous_beat = ts
                elif m.event == "gap":
                    self.on_gap(_gap(m.data))
                elif m.event == "shutdown":
                    shutdown = True
                else:
                    yield _event(m)

    def _silence(self) -> float:
        if self.heartbeat_timeout is not None:
            return float(self.heartbeat_timeout)
        return 2 * self._interval

    def _open(self, deadline: Optional[float]) -> Tuple[socket.socket, http.client.HTTPResponse]:
        self.close()
        parts = urllib.parse.urlsplit(self.url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        target = urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))
        timeout = self.request_timeout
        if deadline is not None:
            timeout = max(0.001, min(timeout, deadline - time.monotonic()))
        proxy = _proxy_for(self.url)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "User-Agent": "swf-relay-client-python/" + __version__}
        if self.token:
            headers["Authorization"] = "Token " + self.token
        if self._last_id is not None:
            headers["Last-Event-ID"] = self._last_id
        conn: http.client.HTTPConnection
        if https:
            context = self.ssl_context or ssl.create_default_context()
            if proxy:
                conn = http.client.HTTPSConnection(proxy[0], proxy[1], timeout=timeout, context=context)
                conn.set_tunnel(host, port, headers={"Proxy-Authorization": proxy[2]} if proxy[2] else None)
            else:
                conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        elif proxy:
            conn = http.client.HTTPConnection(proxy[0], proxy[1], timeout=timeout)
            target = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
            if proxy[2]:
                headers["Proxy-Authorization"] = proxy[2]
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._conn = conn
        try:
            conn.connect()
            sock = conn.sock
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
        except socket.timeout:
            if deadline is not None and time.monotonic() >= deadline:
                raise _Deadline() from None
            raise _Retry("no response within %.1f s" % timeout) from None
        except (OSError, http.client.HTTPException) as e:
            raise _Retry(_describe(e)) from None
        if resp.status != 200:
            self._refused(resp)
        content_type = resp.getheader("Content-Type", "")
        if not content_type.startswith("text/event-stream"):
            raise RequestRefused("%s is not an event stream (Content-Type: %s); is it the relay's URL?" % (_display(self.url), content_type or "none"))
        return sock, resp

    def _refused(self, resp: http.client.HTTPResponse) -> None:
        try:
            body = resp.read(2000).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            body = ""
        detail = body.strip()[:200]
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
                detail = parsed["detail"] + (" [%s]" % parsed["param"] if isinstance(parsed.get("param"), str) else "")
        except ValueError:
            pass
        what = "%d%s" % (resp.status, ": " + detail if detail else "")
        if resp.status in (401, 403):
            hint = "" if self.token else " - no token given: set SWF_API_TOKEN or pass token="
            raise AuthenticationError("the relay refused the credentials (%s)%s" % (what, hint))
        if resp.status in (408, 429) or resp.status >= 500:
            try:
                retry_after = float(resp.getheader("Retry-After", "0"))
            except ValueError:
                retry_after = 0.0
            raise _Retry("the relay answered %s" % what, max(0.0, retry_after))
        if resp.status == 400:
            raise RequestRefused("the relay refused the request (%s)" % what)
        raise RequestRefused("the relay refused the request (%s); is %s the relay's stream URL?" % (what, _display(self.url)))


def _describe(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return "unknown host (%s)" % e
    return str(e) or e.__class__.__name__


def _timestamp(data: str) -> Optional[float]:
    try:
        ts = json.loads(data).get("timestamp")
    except (ValueError, AttributeError):
        return None
    return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None


def _gap(data: str) -> Gap:
    try:
        g = json.loads(data)
    except ValueError:
        g = {}
    if not isinstance(g, dict):
        g = {}
    dropped = g.get("dropped")
    return Gap(
        reason=str(g.get("reason", "unknown")),
        from_id=None if g.get("from_id") is None else str(g.get("from_id")),
        to_id=None if g.get("to_id") is None else str(g.get("to_id")),
        dropped=dropped if isinstance(dropped, int) and not isinstance(dropped, bool) else None,
    )


def _event(m: SseMessage) -> Event:
    try:
        data: Any = json.loads(m.data)
        if not isinstance(data, dict):
            data = m.data
    except ValueError:
        data = m.data
    return Event(id=m.id, event=m.event, data=data, raw=m.data)


# --- command line --------------------------------------------------------------------------------


def _json_line(event: Event) -> str:
    """``{"_id", "_event", ...message}``: the same shape as ``swf-relay receive --json``."""
    out: Dict[str, Any] = {"_id": event.id, "_event": event.event}
    if isinstance(event.data, dict):
        out.update((k, v) for k, v in event.data.items() if k not in ("_id", "_event"))
    else:
        out["_data"] = event.raw
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


#: C0 controls, DEL and C1 controls (U+0080-U+009F): a message must never drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """``text`` with control characters escaped as ``\\uXXXX``, as ``swf-relay receive`` does."""
    return _CONTROL.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def _text_line(event: Event) -> str:
    d = event.data if isinstance(event.data, dict) else {}
    fields = [event.id or "-", event.event]
    for key in ("run_id", "sender_agent", "agent_name", "status", "filename", "message"):
        if d.get(key) not in (None, ""):
            fields.append("%s=%s" % (key, d[key]))
    return _clean(" ".join(str(f) for f in fields))


def _csv(values: Optional[List[str]]) -> List[str]:
    return [v.strip() for item in (values or []) for v in item.split(",") if v.strip()]


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Command line: prints events (one JSON object per line with --json); returns the exit code."""
    ap = argparse.ArgumentParser(prog=prog, description="Print swf-relay events; reconnects without losing any.")
    ap.add_argument("url", nargs="?", help="relay URL (default: $SWF_MONITOR_URL, else %s)" % DEFAULT_URL)
    ap.add_argument("--msg-types", action="append", help="only these msg_types (comma-separated, repeatable)")
    ap.add_argument("--agents", action="append", help="only messages sent or processed by these agents")
    ap.add_argument("--run-ids", action="append", help="only these run ids")
    ap.add_argument("--namespaces", action="append", help="only these namespaces")
    ap.add_argument("--json", action="store_true", help='one JSON object per line: {"_id", "_event", ...message}')
    ap.add_argument("--token-file", help="read the API token from this file (default: $SWF_API_TOKEN)")
    ap.add_argument("--state-file", help="resume after the event id saved here, and save each new one")
    ap.add_argument("--last-event-id", help="resume after this event id (overrides the state file)")
    ap.add_argument("--max-events", type=int, help="exit 0 after this many events")
    ap.add_argument("--timeout", type=float, help="exit 0 after this many seconds")
    ap.add_argument("--connect-timeout", type=float, default=30.0, help="exit 5 if the relay has not answered within this long (0: keep trying)")
    ap.add_argument("--heartbeat-timeout", type=float, help="reconnect after this many silent seconds (default: twice the heartbeat interval)")
    ap.add_argument("--max-backoff", type=float, default=30.0, help="longest wait between reconnects, seconds")
    ap.add_argument("-q", "--quiet", action="store_true", help="no connection notices on stderr")
    args = ap.parse_args(argv)

    def err(line: str) -> None:
        # Gap reasons and the relay's error details come from the network: escaped like events.
        sys.stderr.write("swf_relay_client: %s\n" % _clean(line))
        sys.stderr.flush()

    token = None
    if args.token_file:
        try:
            with open(args.token_file, "r", encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            err("cannot read token file %s: %s" % (args.token_file, e))
            return 2
    if args.max_events is not None and args.max_events < 1:
        err("--max-events must be at least 1")
        return 2

    def on_gap(gap: Gap) -> None:
        err("gap (%s): events %s-%s not delivered (%s dropped)" % (gap.reason, gap.from_id, gap.to_id, gap.dropped))

    try:
        client = RelayClient(
            args.url,
            token,
            msg_types=_csv(args.msg_types),
            agents=_csv(args.agents),
            run_ids=_csv(args.run_ids),
            namespaces=_csv(args.namespaces),
            state_file=args.state_file,
            last_event_id=args.last_event_id,
            on_gap=on_gap,
            on_notice=(lambda line: None) if args.quiet else err,
            heartbeat_timeout=args.heartbeat_timeout,
            connect_timeout=args.connect_timeout,
            max_backoff=args.max_backoff,
        )
    except ValueError as e:
        err(str(e))
        return 2
    except RelayError as e:
        err(str(e))
        return e.exit_code

    # A signal stops us between events, never between printing one and saving its id.
    critical = [False]
    pending: List[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        if critical[0]:
            pending.append(signum)
        else:
            raise _Stop(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for event in client.events(max_events=args.max_events, timeout=args.timeout):
            critical[0] = True
            sys.stdout.write((_json_line(event) if args.json else _text_line(event)) + "\n")
            sys.stdout.flush()
            client.handled(event)
            critical[0] = False
            if pending:
                raise _Stop(pending[0])
        return 0
    except _Stop as stop:
        client.close()
        return 128 + stop.signum
    except RelayError as e:
        err(str(e))
        return e.exit_code
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly; no second error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        client.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
