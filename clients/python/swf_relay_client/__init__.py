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
import calendar
import codecs
import datetime
import http.client
import json
import logging
import math
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
    """The state file cannot be read, holds something else, or cannot be written.

    ``exit_code`` is 2 when this is found at the start, 1 when writing fails later (as ``swf-relay receive``).
    """

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
        error = StateFileError("cannot write state file %s: %s" % (path, e))
        error.exit_code = 1
        raise error from e


def _check_state_writable(path: str) -> None:
    """Raises StateFileError unless ``path`` can be written: its directory exists and is writable, and it is not a directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        problem = "no directory %s" % directory
    elif not os.access(directory, os.W_OK):
        problem = "directory %s is not writable" % directory
    elif os.path.isdir(path):
        problem = "%s is a directory" % path
    else:
        return
    raise StateFileError("cannot write state file %s: %s" % (path, problem))


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
        if self.state_file:
            _check_state_writable(self.state_file)  # now, not after the first event
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


# --- command line: swf-relay-receive ------------------------------------------------------------
# The options, output and exit codes of `swf-relay receive` (src/cli/receive/ in the relay's repository).

#: What the command's lines on stderr start with.
PROG = "swf-relay-receive"
#: Lone surrogates (from "\ud800" escapes in a message) cannot be encoded for output.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_line(event: Event) -> str:
    """``{"_id", "_event", ...message}``, as ``swf-relay receive --json`` prints it.

    The message's own text follows ``_id`` and ``_event``: re-encoding the parsed message would turn
    numbers Python reads as float (``1e400`` is inf) into something that is not JSON. Only a message
    with keys of its own named ``_id`` or ``_event`` is re-encoded (without them; non-finite numbers
    become null, as JSON.stringify makes them).
    """
    head = '{"_id":%s,"_event":%s' % (_json_text(event.id), _json_text(event.event))
    if not isinstance(event.data, dict):
        return '%s,"_data":%s}' % (head, _json_text(event.raw))
    if "_id" not in event.data and "_event" not in event.data:
        rest = event.raw.strip(" \t\r\n")[1:].lstrip(" \t\r\n")
        return head + "}" if rest.startswith("}") else "%s,%s" % (head, rest)
    out = {k: _finite(v) for k, v in event.data.items() if k not in ("_id", "_event")}
    return "%s%s%s" % (head, "," if out else "", _json_text(out)[1:])


def _json_text(value: Any) -> str:
    """Compact JSON; lone surrogates escaped as JSON.stringify does (raw, they cannot be encoded for output)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


#: C0 controls, DEL and C1 controls (U+0080-U+009F): a message must never drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """``text`` with control characters escaped as ``\\uXXXX``, as ``swf-relay receive`` does (lone surrogates become U+FFFD, as Node writes them)."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub(lambda m: "\\u%04x" % ord(m.group()), text))


_ANSI = {"reset": "\x1b[0m", "bold": "\x1b[1m", "dim": "\x1b[2m", "red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "blue": "\x1b[34m", "magenta": "\x1b[35m", "cyan": "\x1b[36m"}
_TYPE_WIDTH = 20
#: ISO 8601 as JavaScript's Date reads it: a date alone is UTC, a date and time without a zone local time.
_ISO_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?")


def _text_line(event: Event, color: bool = False, utc: bool = False, now: Optional[Callable[[], float]] = None) -> str:
    """One readable line, as ``swf-relay receive`` prints it.

    Time (the message's ``sent_at``, else now), id, type, run, sender (-> recipient), then filename or
    message (else state/substate); agent heartbeats show agent, status and type instead. Control
    characters are escaped; ANSI colours only with ``color``.
    """

    def paint(colour: Optional[str], text: str) -> str:
        return "%s%s%s" % (_ANSI[colour], text, _ANSI["reset"]) if color and colour is not None and text != "" else text

    p = event.data if isinstance(event.data, dict) else None
    clock = _clock(None if p is None else p.get("sent_at"), utc, now or time.time)
    ident = "" if event.id is None else "#" + _clean(event.id)
    kind = _clean(event.event)
    head = "%s %s %s" % (paint("dim", clock), paint("dim", ident.ljust(7)), paint(_type_colour(kind), kind.ljust(_TYPE_WIDTH)))
    if p is None:
        return "%s %s" % (head, _clean(event.raw))
    if kind == "agent_status":
        status = _text(p.get("status"))
        detail = ", ".join(t for t in (_text(p.get("agent_type")), _text(p.get("namespace"))) if t != "")
        parts = [head, _text(p.get("agent_name")) or _text(p.get("sender_agent")), paint(_status_colour(status), status), "" if detail == "" else paint("dim", "(%s)" % detail)]
        return "  ".join(t for t in parts if t != "")
    run = _text(p.get("run_id"))
    sender = _text(p.get("sender_agent")) or _text(p.get("sender")) or _text(p.get("processed_by"))
    recipient = _text(p.get("recipient_agent")) or _text(p.get("recipient"))
    who = sender if recipient == "" else "%s \u2192 %s" % (sender or "?", recipient)
    what = _text(p.get("filename")) or _text(p.get("message"))
    state = "/".join(t for t in (_text(p.get("state")), _text(p.get("substate"))) if t != "")
    tail = paint("cyan", what) if what != "" else paint("dim", state) if state != "" else ""
    parts = [head, "" if run == "" else "run " + paint("bold", run), who, tail]
    return "  ".join(t for t in parts if t != "")


def _clock(sent_at: Any, utc: bool, now: Callable[[], float]) -> str:
    """HH:MM:SS.mmm of ``sent_at`` (local time, or UTC), else of ``now()``."""
    for moment in (_parse_time(sent_at), None):
        if moment is None:
            t = now()
            moment = (int(t // 1), int((t % 1) * 1000))
        try:
            tm = time.gmtime(moment[0]) if utc else time.localtime(moment[0])
        except (OverflowError, OSError, ValueError):
            continue  # a year this platform cannot show: now instead
        return "%02d:%02d:%02d.%03d" % (tm.tm_hour, tm.tm_min, tm.tm_sec, moment[1])
    return "--:--:--.---"


def _parse_time(value: Any) -> Optional[Tuple[int, int]]:
    """An ISO 8601 ``sent_at`` as (seconds since the epoch, milliseconds); None when it is not one."""
    m = _ISO_TIME.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        moment = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
        if hour is not None and zone is None:
            seconds = int(time.mktime(moment.timetuple()))
        else:
            offset = 0
            if zone is not None and zone != "Z":
                digits = zone[1:].replace(":", "")
                offset = (-1 if zone[0] == "-" else 1) * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
            seconds = calendar.timegm(moment.timetuple()) - offset
    except (OverflowError, ValueError):
        return None
    return seconds, int((fraction or "")[:3].ljust(3, "0"))


def _text(value: Any) -> str:
    """A scalar as display text, as JavaScript's String() gives it ('' for absent, null, lists, objects); controls escaped."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return re.sub(r"e([+-])0*([0-9])", r"e\1\2", repr(value))
    return ""


def _type_colour(kind: str) -> Optional[str]:
    if re.search("error|fail", kind, re.IGNORECASE):
        return "red"
    if kind == "agent_status":
        return "dim"
    if kind in ("pause_run", "resume_run"):
        return "yellow"
    if kind in ("run_imminent", "start_run", "end_run"):
        return "cyan"
    return {"stf_gen": "green", "data_ready": "blue", "processing_complete": "magenta"}.get(kind, "bold")


def _status_colour(status: str) -> Optional[str]:
    if re.fullmatch("ok|running|active", status, re.IGNORECASE):
        return "green"
    if re.match("warn", status, re.IGNORECASE):
        return "yellow"
    if re.fullmatch("error|exited|failed|dead", status, re.IGNORECASE):
        return "red"
    return None


def _describe_gap(gap: Gap) -> str:
    """One line for stderr, as ``swf-relay receive`` reports a gap: reason, ids, and the --last-event-id that fills it."""
    first, last = gap.from_id or "", gap.to_id or ""
    ids = "event %s" % first if first == last else "events %s\u2013%s" % (first, last)
    dropped = "" if gap.dropped is None else " (%d not delivered)" % gap.dropped
    before = str(int(first) - 1) if first.isdigit() and first.isascii() and first != "0" else first
    return "gap (%s): %s%s; to fill it, reconnect with --last-event-id %s or page the history" % (gap.reason or "unknown reason", ids, dropped, before)


def _use_color(when: str, stream: Any) -> bool:
    """``always``/``never`` as said; ``auto``: not with NO_COLOR, yes with FORCE_COLOR, else when ``stream`` is a terminal."""
    if when != "auto":
        return when == "always"
    if os.environ.get("NO_COLOR", "").strip():
        return False
    force = os.environ.get("FORCE_COLOR", "").strip()
    if force and force != "0":
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def _csv(values: Optional[List[str]]) -> List[str]:
    return [v.strip() for item in (values or []) for v in item.split(",") if v.strip()]


def _seconds(value: str) -> float:
    v = value.strip()
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", v) or float(v) > 1e9:
        raise argparse.ArgumentTypeError("must be a number of seconds \u2265 0")
    return float(v)


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        v = value.strip()
        if not re.fullmatch("[0-9]+", v) or int(v) < minimum or int(v) > 2**53 - 1:
            raise argparse.ArgumentTypeError("must be a whole number \u2265 %d" % minimum)
        return int(v)

    return parse


def _event_id(value: str) -> str:
    if _valid_id(value.strip()) is None:
        raise argparse.ArgumentTypeError("must be a decimal event id")
    return value.strip()


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """The ``swf-relay-receive`` command: prints events (one JSON object per line with --json); returns the exit code.

    Exit codes as ``swf-relay receive``: 0 done, 1 the state file could not be written, 2 usage (options,
    token file, state file), 3 credentials refused, 4 request refused (bad filter, wrong URL), 5 relay
    unreachable, 130/143 stopped by SIGINT/SIGTERM.
    """
    ap = argparse.ArgumentParser(prog=prog, description="print the relay's events as they arrive (reconnects without losing any)")
    ap.add_argument("url", nargs="?", help="relay URL (default: $SWF_MONITOR_URL, else %s); /%s is added unless present" % (DEFAULT_URL, STREAM_PATH))
    ap.add_argument("--msg-types", action="append", metavar="LIST", help="only these msg_types (comma-separated, repeatable; agent_status asks for agent heartbeats)")
    ap.add_argument("--agents", action="append", metavar="LIST", help="only messages sent or processed by these agents")
    ap.add_argument("--run-ids", action="append", metavar="LIST", help="only these run ids")
    ap.add_argument("--namespaces", action="append", metavar="LIST", help="only these namespaces")
    ap.add_argument("--json", action="store_true", help='one JSON object per line: {"_id", "_event", ...message}')
    ap.add_argument("--token-file", metavar="PATH", help="read the API token from this file (default: $SWF_API_TOKEN)")
    ap.add_argument("--state-file", metavar="PATH", help="resume after the event id saved here, and save each new one (atomically)")
    ap.add_argument("--last-event-id", type=_event_id, metavar="ID", help="resume after this event id (overrides the state file)")
    ap.add_argument("--max-events", type=_whole(1), metavar="N", help="exit 0 after this many events")
    ap.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="exit 0 after this long")
    ap.add_argument("--connect-timeout", type=_seconds, default=30.0, metavar="SECONDS", help="exit 5 if the relay has not answered within this long (default 30; 0: keep trying)")
    ap.add_argument("--retry-limit", type=_whole(0), metavar="N", help="once connected, exit 5 after this many failed reconnects in a row (default: never)")
    ap.add_argument("--heartbeat-timeout", type=_seconds, metavar="SECONDS", help="reconnect when nothing arrives for this long (default: twice the relay's heartbeat interval; 0: never)")
    ap.add_argument("--max-backoff", type=_seconds, default=30.0, metavar="SECONDS", help="longest wait between reconnects (default 30)")
    ap.add_argument("--color", choices=["auto", "always", "never"], default="auto", help="colour the readable output (default: auto)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no connection notices on stderr (gaps and errors are still shown)")
    args = ap.parse_args(argv)

    def err(line: str) -> None:
        # Gap reasons and the relay's error details come from the network: escaped like events.
        sys.stderr.write("%s: %s\n" % (PROG, _clean(line)))
        sys.stderr.flush()

    token = None
    if args.token_file:
        try:
            with open(args.token_file, "r", encoding="utf-8") as f:
                token = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            err("cannot read token file %s: %s" % (args.token_file, e))
            return 2
        if token == "" or re.search(r"\s", token):
            err("token file %s must hold the key alone on one line" % args.token_file)
            return 2

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
            on_gap=lambda gap: err(_describe_gap(gap)),
            on_notice=(lambda line: None) if args.quiet else err,
            heartbeat_timeout=args.heartbeat_timeout,
            connect_timeout=args.connect_timeout,
            max_backoff=args.max_backoff,
            retry_limit=args.retry_limit,
        )
    except ValueError as e:
        err(str(e))
        return 2
    except RelayError as e:
        err(str(e))
        return e.exit_code
    color = _use_color(args.color, sys.stdout)

    def line_of(event: Event) -> str:
        return _json_line(event) if args.json else _text_line(event, color=color)

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
            sys.stdout.write(line_of(event) + "\n")
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
