"""Unit tests of swf_relay_client's pure parts (stdlib unittest; no server): python3 -m unittest discover -s tests (in clients/python)"""

import contextlib
import io
import json
import os
import re
import tempfile
import unittest

import swf_relay_client as c

STREAM = (
    "retry: 3000\n"
    'event: connected\ndata: {"client_id":"x","status":"connected","last_event_id":null}\n\n'
    'id: 41\nevent: stf_gen\ndata: {"msg_type":"stf_gen","run_id":100042,"filename":"データ.stf"}\n\n'
    'event: heartbeat\ndata: {"timestamp":1764268800.123}\n\n'
    'event: agent_status\ndata: {"agent_name":"a","status":"OK"}\n\n'
    'id: 42\nevent: end_run\ndata: {"msg_type":"end_run"}\n\n'
)


def names(messages):
    return [m.event for m in messages]


class SseParserTest(unittest.TestCase):
    def test_whole_stream(self):
        p = c.SseParser()
        out = p.feed(STREAM)
        self.assertEqual(names(out), ["connected", "stf_gen", "heartbeat", "agent_status", "end_run"])
        self.assertEqual(p.retry_ms, 3000)
        self.assertEqual([m.id for m in out], [None, "41", None, None, "42"])
        self.assertEqual([m.last_event_id for m in out], ["", "41", "41", "41", "42"])
        self.assertEqual(json.loads(out[1].data)["filename"], "データ.stf")

    def test_any_chunking_gives_the_same_events(self):
        expected = c.SseParser().feed(STREAM)
        for size in (1, 2, 3, 7, 64):
            p = c.SseParser()
            got = []
            for i in range(0, len(STREAM), size):
                got.extend(p.feed(STREAM[i : i + size]))
            self.assertEqual(got, expected, "chunks of %d" % size)

    def test_line_endings_crlf_cr_lf_even_split(self):
        for eol in ("\r\n", "\r", "\n"):
            text = "id: 1%sevent: a%sdata: x%s%s" % (eol, eol, eol, eol)
            whole = c.SseParser().feed(text)
            self.assertEqual([(m.event, m.data, m.id) for m in whole], [("a", "x", "1")], repr(eol))
            p = c.SseParser()
            pieces = []
            for ch in text:  # a CRLF split between two pieces must not end two lines
                pieces.extend(p.feed(ch))
            self.assertEqual(pieces, whole, repr(eol))

    def test_crlf_split_does_not_dispatch_early(self):
        p = c.SseParser()
        self.assertEqual(p.feed("data: a\r"), [])
        self.assertEqual(p.feed("\ndata: b\r\n"), [])
        out = p.feed("\r\n")
        self.assertEqual([m.data for m in out], ["a\nb"])

    def test_bom_comments_and_fields(self):
        p = c.SseParser()
        out = p.feed("\ufeff: comment\nevent:x\ndata\ndata:  two spaces\nunknown: y\n\n")
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0].event, "x")
        self.assertEqual(out[0].data, "\n two spaces")

    def test_block_without_data_dispatches_nothing_but_keeps_id(self):
        p = c.SseParser()
        self.assertEqual(p.feed("id: 7\nevent: x\n\n"), [])
        self.assertEqual(p.last_event_id, "7")
        out = p.feed("data: y\n\n")
        self.assertEqual((out[0].event, out[0].id, out[0].last_event_id), ("message", None, "7"))

    def test_id_with_nul_is_ignored_and_bad_retry_too(self):
        p = c.SseParser()
        out = p.feed("id: 1\0\nretry: 12a\ndata: z\n\n")
        self.assertEqual((out[0].id, p.last_event_id, p.retry_ms), (None, "", None))

    def test_unterminated_block_waits(self):
        p = c.SseParser()
        self.assertEqual(p.feed("data: partial"), [])
        self.assertEqual(p.feed("\n"), [])
        self.assertEqual([m.data for m in p.feed("\n")], ["partial"])

    def test_overlong_line_raises(self):
        p = c.SseParser(max_line_length=10)
        with self.assertRaises(ValueError):
            p.feed("data: " + "x" * 20)


class HelpersTest(unittest.TestCase):
    def test_stream_url(self):
        self.assertEqual(c.stream_url("http://h:8000"), "http://h:8000/api/messages/stream/")
        self.assertEqual(c.stream_url("https://h/swf-monitor/"), "https://h/swf-monitor/api/messages/stream/")
        self.assertEqual(c.stream_url("https://h/x/api/messages/stream"), "https://h/x/api/messages/stream/")
        url = c.stream_url("http://h", msg_types=["a", " b "], run_ids=["100042"], agents=[""])
        self.assertEqual(url, "http://h/api/messages/stream/?msg_types=a%2Cb&run_ids=100042")
        with self.assertRaises(ValueError):
            c.stream_url("ftp://h")

    def test_backoff_is_full_jitter_and_capped(self):
        self.assertEqual(c.backoff_delay(1, 0.5, 30, lambda: 0.999999) < 0.5, True)
        self.assertAlmostEqual(c.backoff_delay(3, 0.5, 30, lambda: 0.5), 1.0)
        self.assertAlmostEqual(c.backoff_delay(100, 0.5, 30, lambda: 0.5), 15.0)
        self.assertEqual(c.backoff_delay(4, 0.5, 30, lambda: 0.0), 0.0)

    def test_state_file_round_trip_and_errors(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state")
            self.assertIsNone(c.load_state(path))
            c.save_state(path, "1042", "http://h/api/messages/stream/")
            self.assertEqual(c.load_state(path), "1042")
            self.assertEqual(os.listdir(d), ["state"], "no temp file left behind")
            with open(path, "w") as f:
                f.write("77\n")
            self.assertEqual(c.load_state(path), "77")
            with open(path, "w") as f:
                f.write('{"last_event_id": 5}')
            self.assertEqual(c.load_state(path), "5")
            with open(path, "w") as f:
                f.write("garbage")
            with self.assertRaises(c.StateFileError):
                c.load_state(path)
            with self.assertRaises(c.StateFileError):
                c.save_state(os.path.join(d, "missing-dir", "state"), "1")

    def test_json_line_shape(self):
        ev = c.Event(id="5", event="stf_gen", data={"msg_type": "stf_gen", "_id": "spoof"}, raw="")
        self.assertEqual(json.loads(c._json_line(ev)), {"_id": "5", "_event": "stf_gen", "msg_type": "stf_gen"})
        raw = c.Event(id=None, event="message", data="not json", raw="not json")
        self.assertEqual(json.loads(c._json_line(raw)), {"_id": None, "_event": "message", "_data": "not json"})
        listed = c._event(c.SseMessage("message", "[1,2]", "5", "5"))
        self.assertEqual(c._json_line(listed), '{"_id":"5","_event":"message","_data":"[1,2]"}')

    def test_json_line_is_the_message_text_as_received(self):
        # The same cases as receive's (test/unit/receive-format.test.ts), and a number Python reads as inf.
        text = '{"msg_type": "stf_gen", "run_id": 9007199254740993, "x": {"n": [1, 12345678901234567890, null]}, "e": null, "big": 1e400}'
        line = c._json_line(c._event(c.SseMessage("stf_gen", text, "1042", "1042")))
        self.assertEqual(line, '{"_id":"1042","_event":"stf_gen",' + text[1:])
        self.assertEqual(json.loads(line)["run_id"], 9007199254740993)
        for empty in ("{}", "{ }", " {\t}\n"):
            self.assertEqual(c._json_line(c._event(c.SseMessage("message", empty, "1042", "1042"))), '{"_id":"1042","_event":"message"}', repr(empty))

    def test_json_line_re_encodes_only_with_its_own_id_keys_and_stays_json(self):
        ev = c._event(c.SseMessage("x", '{"_event":"spoof","a":1e400,"b":[-1e400],"c":"\\ud800"}', "3", "3"))
        line = c._json_line(ev)
        self.assertEqual(line, '{"_id":"3","_event":"x","a":null,"b":[null],"c":"\\ud800"}')
        ev = c._event(c.SseMessage("x", '{"_id":"spoof"}', "3", "3"))
        self.assertEqual(c._json_line(ev), '{"_id":"3","_event":"x"}')

    def test_gap_parsing(self):
        gap = c._gap('{"reason":"slow_client","from_id":"10","to_id":"20","dropped":11}')
        self.assertEqual(gap, c.Gap("slow_client", "10", "20", 11))
        self.assertEqual(c._gap("nonsense").reason, "unknown")

    def test_loopback_never_goes_through_a_proxy(self):
        saved = {k: os.environ.get(k) for k in ("http_proxy", "no_proxy")}
        os.environ["http_proxy"] = "http://proxy.example:3128"
        os.environ.pop("no_proxy", None)
        try:
            self.assertIsNone(c._proxy_for("http://127.0.0.1:8000/api/messages/stream/"))
            self.assertEqual(c._proxy_for("http://relay.example/api/messages/stream/"), ("proxy.example", 3128, None))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def test_client_reads_token_and_state(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s")
            c.save_state(path, "9")
            client = c.RelayClient("http://h:1", token="k", state_file=path, run_ids=["1"])
            self.assertEqual(client.last_event_id, "9")
            self.assertEqual(client.url, "http://h:1/api/messages/stream/?run_ids=1")
            explicit = c.RelayClient("http://h:1", token="k", state_file=path, last_event_id="3")
            self.assertEqual(explicit.last_event_id, "3")
            with self.assertRaises(ValueError):
                c.RelayClient("http://h:1", last_event_id="abc")


#: What a terminal acts on: C0 controls (CR, BEL, ESC, ...), DEL and the C1 controls U+0080-U+009F.
TERMINAL_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
C1 = "".join(chr(n) for n in range(0x80, 0xA0))


class ControlCharactersTest(unittest.TestCase):
    """Readable output and stderr escape control characters as ``\\uXXXX`` (as ``swf-relay receive``); --json leaves them to JSON."""

    HOSTILE = "a\rb\x07c\x1b[2Jd\x7f" + C1 + "\nデータ →"

    def test_readable_line_escapes_cr_bel_esc_del_and_c1(self):
        ev = c.Event(id="7", event="stf\x1bgen", data={"msg_type": "x", "run_id": "1\r2", "filename": self.HOSTILE}, raw="")
        line = c._text_line(ev)
        self.assertIsNone(TERMINAL_CONTROLS.search(line), repr(line))
        for escaped in ("\\u000d", "\\u0007", "\\u001b[2J", "\\u007f", "\\u000a", "stf\\u001bgen", "1\\u000d2"):
            self.assertIn(escaped, line)
        for n in range(0x80, 0xA0):
            self.assertIn("\\u%04x" % n, line)
        self.assertIn("データ →", line, "printable non-ASCII text is kept")

    def test_json_line_keeps_the_text_and_json_escapes_c0(self):
        # As the relay sends it: JSON text, C0 escaped (JSON requires it), DEL and C1 as they are.
        ev = c._event(c.SseMessage("x", json.dumps({"filename": self.HOSTILE}, ensure_ascii=False), "7", "7"))
        line = c._json_line(ev)
        self.assertEqual(json.loads(line)["filename"], self.HOSTILE, "the exact text, for programs")
        self.assertIsNone(re.search(r"[\x00-\x1f]", line), "JSON escapes C0 controls: " + repr(line))

    def test_stderr_lines_are_escaped(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = c.main(["http://127.0.0.1:9", "--token-file", os.path.join(tempfile.gettempdir(), "no\x1b]0;title\x07such\x9btoken")])
        self.assertEqual(code, 2)
        text = err.getvalue()
        self.assertTrue(text.endswith("\n"))
        self.assertIsNone(TERMINAL_CONTROLS.search(text[:-1]), repr(text))
        self.assertIn("no\\u001b]0;title\\u0007such\\u009btoken", text)


STF = {
    "msg_type": "stf_gen",
    "run_id": 100042,
    "sender": "daqsim-agent-torre-7",
    "filename": "swf.100042.000001.stf",
    "sender_agent": "daqsim-agent-torre-7",
    "recipient_agent": None,
    "namespace": "torre-dev",
    "sent_at": "2026-11-27T14:00:03.120Z",
}


def event(data, name="stf_gen", id="1042"):
    """An Event as the client makes it from ``data:`` text (parsed when it is a JSON object)."""
    raw = data if isinstance(data, str) else json.dumps(data)
    return c._event(c.SseMessage(name, raw, id, id or ""))


class ReadableLineTest(unittest.TestCase):
    """The readable line is receive's (test/unit/receive-format.test.ts has the same cases)."""

    def line(self, ev, **options):
        return c._text_line(ev, utc=True, **options)

    def test_time_id_type_run_sender_filename(self):
        self.assertRegex(self.line(event(STF)), r"^14:00:03\.120 #1042 +stf_gen +run 100042  daqsim-agent-torre-7  swf\.100042\.000001\.stf$")

    def test_sender_to_recipient_and_message_without_filename(self):
        ev = event({"msg_type": "data_ready", "sender_agent": "data-1", "recipient_agent": "proc-2", "run_id": "7", "message": "hello"}, "data_ready")
        self.assertRegex(self.line(ev), "run 7  data-1 \u2192 proc-2  hello$")

    def test_agent_heartbeat_shows_agent_status_and_type(self):
        ev = event({"agent_name": "daq-1", "status": "WARNING", "agent_type": "daqsim", "namespace": "ns", "msg_type": "agent_status"}, "agent_status", None)
        self.assertRegex(self.line(ev), r"agent_status +daq-1  WARNING  \(daqsim, ns\)$")

    def test_state_and_substate_without_filename_or_message(self):
        ev = event({"msg_type": "start_run", "run_id": "5", "sender_agent": "daq", "state": "run", "substate": "physics"}, "start_run")
        self.assertRegex(self.line(ev), "start_run +run 5  daq  run/physics$")

    def test_data_that_is_not_an_object_is_shown_as_text(self):
        self.assertRegex(self.line(event("plain text", "message", "9")), "^[0-9:.]{12} #9      message              plain text$")

    def test_time_now_when_sent_at_is_missing_or_bad(self):
        now = lambda: 1767323045.006  # 2026-01-02T03:04:05.006Z
        self.assertRegex(self.line(event({"msg_type": "x", "sent_at": "garbage"}, "x"), now=now), r"^03:04:05\.006 ")
        self.assertRegex(self.line(event({"msg_type": "x"}, "x"), now=now), r"^03:04:05\.006 ")

    def test_sent_at_read_as_javascript_dates_are(self):
        # Expected values from node: new Date(s).toISOString()
        cases = {
            "2026-11-27T14:00:03.120456+00:00": "14:00:03.120",
            "2026-11-27T14:00:03.999999Z": "14:00:03.999",
            "2026-11-27T14:00:03.1+02:00": "12:00:03.100",
            "2026-11-27T14:00:03+0200": "12:00:03.000",
            "2026-11-27T14:00Z": "14:00:00.000",
            "2026-11-27": "00:00:00.000",
        }
        for sent_at, clock in cases.items():
            self.assertEqual(self.line(event({"sent_at": sent_at}, "x"))[:12], clock, sent_at)

    def test_sent_at_without_zone_is_local_time(self):
        local = c._text_line(event({"sent_at": "2026-11-27T14:00:03.250"}, "x"), utc=False)
        self.assertEqual(local[:12], "14:00:03.250")

    def test_scalars_as_javascript_prints_them(self):
        self.assertEqual([c._text(v) for v in (True, 7, 7.0, 1.5, 1e21, 1.5e-7, None, [1], {"a": 1})], ["true", "7", "7", "1.5", "1e+21", "1.5e-7", "", "", ""])

    def test_colours_only_when_asked(self):
        self.assertNotIn("\x1b[", self.line(event(STF)))
        coloured = self.line(event(STF), color=True)
        self.assertIn("\x1b[32mstf_gen", coloured, "stf_gen in green")
        self.assertEqual(re.sub("\x1b\\[[0-9]+m", "", coloured), self.line(event(STF)))

    def test_lone_surrogates_do_not_break_output(self):
        ev = event('{"msg_type":"x","filename":"a\\ud800b"}', "x")
        self.assertIn("a\ufffdb", self.line(ev))
        line = c._json_line(ev)
        line.encode("utf-8")  # no UnicodeEncodeError
        self.assertEqual(json.loads(line)["filename"], "a\ud800b")


class GapLineTest(unittest.TestCase):
    def test_names_reason_ids_and_how_to_fill_it(self):
        line = c._describe_gap(c._gap('{"reason":"slow_client","from_id":"10","to_id":"20","dropped":11}'))
        self.assertEqual(line, "gap (slow_client): events 10\u201320 (11 not delivered); to fill it, reconnect with --last-event-id 9 or page the history")
        self.assertRegex(c._describe_gap(c._gap('{"reason":"unknown_id","from_id":"5","to_id":"5","dropped":0}')), "^gap \\(unknown_id\\): event 5 ")


def run_main(argv, env=None):
    """c.main(argv) with ``env`` set; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = c.main(argv)
            except SystemExit as e:  # argparse's usage errors and --help
                code = e.code
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


class CommandLineTest(unittest.TestCase):
    """Usage errors exit 2 before anything is sent (the URL is never contacted)."""

    URL = "http://127.0.0.1:9"

    def test_bad_option_values_exit_2(self):
        for argv in (
            ["--timeout", "-1"],
            ["--connect-timeout", "soon"],
            ["--heartbeat-timeout", "1e3"],
            ["--max-backoff", "nan"],
            ["--max-events", "0"],
            ["--retry-limit", "-1"],
            ["--last-event-id", "abc"],
            ["--color", "blue"],
            ["--no-such-option"],
        ):
            code, _, err = run_main([self.URL] + argv)
            self.assertEqual(code, 2, argv)
            self.assertRegex(err, "error: (argument %s|unrecognized arguments)" % argv[0], argv)

    def test_not_an_http_url_exits_2(self):
        code, _, err = run_main(["ftp://relay.example"])
        self.assertEqual((code, err), (2, "swf-relay-receive: not an http(s) URL: 'ftp://relay.example'\n"))

    def test_token_file_must_hold_the_key_alone(self):
        with tempfile.TemporaryDirectory() as d:
            for content in ("", "two words\n", "key\nmore\n"):
                path = os.path.join(d, "token")
                with open(path, "w") as f:
                    f.write(content)
                code, _, err = run_main([self.URL, "--token-file", path])
                self.assertEqual(code, 2, repr(content))
                self.assertEqual(err, "swf-relay-receive: token file %s must hold the key alone on one line\n" % path)

    def test_state_file_that_cannot_be_written_exits_2_at_once(self):
        with tempfile.TemporaryDirectory() as d:
            for path in (os.path.join(d, "missing", "state"), d):
                code, _, err = run_main([self.URL, "--state-file", path, "--connect-timeout", "0"])
                self.assertEqual(code, 2, path)
                self.assertTrue(err.startswith("swf-relay-receive: cannot write state file %s: " % path), err)

    def test_help_lists_receive_options(self):
        code, out, _ = run_main(["--help"])
        self.assertEqual(code, 0)
        for option in ("--msg-types", "--agents", "--run-ids", "--namespaces", "--json", "--token-file", "--state-file", "--last-event-id", "--max-events", "--timeout", "--connect-timeout", "--retry-limit", "--heartbeat-timeout", "--max-backoff", "--color", "--quiet"):
            self.assertIn(option, out)

    def test_colour_auto_follows_no_color_force_color_and_the_terminal(self):
        class Tty(io.StringIO):
            def isatty(self):
                return True

        cases = [("always", {}, io.StringIO(), True), ("never", {"FORCE_COLOR": "1"}, Tty(), False), ("auto", {}, io.StringIO(), False), ("auto", {"TERM": "xterm"}, Tty(), True), ("auto", {"TERM": "dumb"}, Tty(), False), ("auto", {"NO_COLOR": "1"}, Tty(), False), ("auto", {"FORCE_COLOR": "1"}, io.StringIO(), True), ("auto", {"FORCE_COLOR": "0"}, io.StringIO(), False)]
        for when, env, stream, expected in cases:
            saved = dict(os.environ)
            for k in ("NO_COLOR", "FORCE_COLOR", "TERM"):
                os.environ.pop(k, None)
            os.environ.update(env)
            try:
                self.assertEqual(c._use_color(when, stream), expected, (when, env))
            finally:
                os.environ.clear()
                os.environ.update(saved)


if __name__ == "__main__":
    unittest.main()
