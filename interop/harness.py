"""What interop/run.py, interop/impaired.py and bench/bench.py share: starting peers that speak the
line protocol of interop/README.md, relaying the signalling between two of them (optionally
through the impairing relay, `impair-relay`), waiting for what they print, asking for
`__stats__`, printing result tables, and running inside a loopback-only network namespace.

Standard library only.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTEROP = os.path.join(ROOT, ".interop")
NODE_MODULES = os.path.join(INTEROP, "node", "node_modules")
STACKS = ("ours", "aiortc", "ndc", "werift", "chromium", "firefox")
SIGNALLING = ("offer", "answer", "candidate", "end-of-candidates")
STATS_REQUEST = "__stats__"


class Failure(Exception):
    """A peer did not do what a check or measurement waited for."""


# --- stacks ----------------------------------------------------------------------------------


def release_dir():
    """Where cargo puts release binaries: $CARGO_TARGET_DIR/release when set, else target/release."""
    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    return os.path.join(ROOT, target, "release")


def ours_binary(path=None):
    return path or os.path.join(release_dir(), "webrtc-rs-peer")


def relay_binary(path=None):
    return path or os.path.join(release_dir(), "impair-relay")


def peer_command(stack, ours_bin=None):
    """The command line and environment that start one peer of `stack` (flags not included)."""
    env = dict(os.environ)
    if stack == "ours":
        return [ours_binary(ours_bin)], env
    if stack == "aiortc":
        return [os.path.join(INTEROP, "venv", "bin", "python"), os.path.join(ROOT, "interop", "aiortc_peer.py")], env
    if stack == "ndc":
        env["NODE_PATH"] = NODE_MODULES
        return ["node", os.path.join(ROOT, "interop", "ndc_peer.mjs")], env
    if stack == "werift":
        env["NODE_PATH"] = NODE_MODULES
        return ["node", os.path.join(ROOT, "interop", "werift_peer.mjs")], env
    if stack == "chromium":
        return [sys.executable, os.path.join(ROOT, "interop", "chromium_peer.py")], env
    if stack == "firefox":
        return [sys.executable, os.path.join(ROOT, "interop", "firefox_peer.py")], env
    script = os.path.basename(sys.argv[0])
    raise SystemExit(f"{script}: unknown stack {stack!r} (expected {', '.join(STACKS[:-1])} or {STACKS[-1]})")


# --- one peer process --------------------------------------------------------------------------


class Peer:
    """One peer process. Its stdout lines go, parsed and timestamped, into the session's queue;
    what it printed other than signalling is kept in `events` (read times in `stamps`)."""

    def __init__(self, index, name, command, env, log_dir, log_prefix, transcript, lines):
        self.index = index
        self.name = name
        self.events = []
        self.stamps = []
        self.errors = []
        self.ready = False
        self.description = None  # the SDP of the last offer or answer it printed
        self.candidates = []  # every candidate line it signalled, trickled or in a description
        os.makedirs(log_dir, exist_ok=True)
        base = os.path.join(log_dir, f"{log_prefix}{index}-{name}")
        self.stderr = open(base + ".stderr", "wb")
        self.transcript = open(base + ".lines", "w") if transcript else None
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            cwd=ROOT,
        )
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()

    def _read(self, lines):
        for raw in self.proc.stdout:
            stamp = time.monotonic()
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            self._log("<", text)
            try:
                value = json.loads(text)
            except ValueError:
                value = {"event": "error", "message": f"non-JSON output: {text[:200]}"}
            lines.put((self.index, stamp, value))
        lines.put((self.index, time.monotonic(), None))

    def _log(self, direction, text):
        if self.transcript is not None:
            self.transcript.write(f"{time.monotonic():.3f} {direction} {text[:4000]}\n")
            self.transcript.flush()

    def record(self, stamp, value):
        self.events.append(value)
        self.stamps.append(stamp)
        if value.get("event") == "error":
            self.errors.append(value.get("message", ""))
        elif value.get("event") == "ready":
            self.ready = True

    def send(self, value):
        text = json.dumps(value)
        self._log(">", text)
        try:
            self.proc.stdin.write(text.encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def finish(self, timeout):
        """Ends its input (which closes the connection) and waits for it to exit."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        if self.transcript is not None:
            self.transcript.close()


# --- two peers and the relay between them -------------------------------------------------------


class Session:
    """Two peers (index 0 offers), the signalling relay between them, and waiting for what they
    print. `specs` are (name, command, env); `command` includes the flags.

    With `hold_signalling`, signalling is relayed only once both peers printed `ready`, so
    process start stays out of timings taken from `offer_at` (when the offer was relayed).
    With `errors_fail`, an `error` event of the awaited peer fails the wait.
    `rewrite(who, value)`, when given, sees each signalling line of peer `who` before the other
    peer gets it and returns what to pass on (None: nothing), e.g. `ImpairRelay.rewrite`.
    """

    def __init__(self, specs, log_dir, *, step_timeout, log_prefix="", transcript=True,
                 hold_signalling=False, errors_fail=False, rewrite=None):
        self.lines = queue.Queue()
        self.rewrite = rewrite
        self.step_timeout = step_timeout
        self.hold_signalling = hold_signalling
        self.errors_fail = errors_fail
        self.held = []
        self.offer_at = None
        self.peers = []
        try:
            for index, (name, command, env) in enumerate(specs):
                self.peers.append(Peer(index, name, command, env, log_dir, log_prefix, transcript, self.lines))
        except OSError as e:
            self.finish()
            raise Failure(f"cannot start the peers: {e}")
        self.exited = [False] * len(self.peers)

    def mark(self, who):
        """Where the next event of peer `who` will stand: a `since` for `wait`."""
        return len(self.peers[who].events)

    def _pump(self, deadline):
        """Handles one line a peer printed; False when none came before `deadline`."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            who, stamp, value = self.lines.get(timeout=left)
        except queue.Empty:
            return False
        if value is None:
            self.exited[who] = True
            return True
        if value.get("type") in SIGNALLING:
            self.held.append((who, stamp, value))
        else:
            self.peers[who].record(stamp, value)
        if not self.hold_signalling or all(peer.ready for peer in self.peers):
            self._relay()
        return True

    def _relay(self):
        for who, stamp, value in self.held:
            if value.get("type") in ("offer", "answer"):
                self.peers[who].description = value.get("sdp", "")
                self.peers[who].candidates += [line[2:] for line in value.get("sdp", "").splitlines() if line.startswith("a=candidate:")]
            if value.get("type") == "candidate" and value.get("candidate"):
                self.peers[who].candidates.append(value["candidate"])
            if value.get("type") == "offer" and self.offer_at is None:
                self.offer_at = max(stamp, time.monotonic())
            if self.rewrite is not None:
                value = self.rewrite(who, value)
            if value is not None:
                self.peers[1 - who].send(value)
        self.held = []

    def find(self, who, what, predicate, since=0, timeout=None):
        """The index of the first event of peer `who` at or after `since` matching `predicate`;
        `what` names it in the Failure raised when it does not come within `timeout`."""
        timeout = self.step_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        peer = self.peers[who]
        scanned = since
        while True:
            while scanned < len(peer.events):
                value = peer.events[scanned]
                if self.errors_fail and value.get("event") == "error":
                    raise Failure(f"{peer.name}: {value.get('message')}")
                if predicate(value):
                    return scanned
                scanned += 1
            if self.exited[who] and self.lines.empty():
                raise Failure(f"{peer.name} exited before {what}{self.error_note(who)}")
            if not self._pump(deadline) and time.monotonic() >= deadline:
                raise Failure(f"{peer.name}: no {what} within {timeout:.0f}s{self.error_note(who)}")

    def wait(self, who, what, predicate, since=0, timeout=None):
        """The first event of peer `who` at or after `since` matching `predicate` (see `find`)."""
        return self.peers[who].events[self.find(who, what, predicate, since, timeout)]

    def settle(self, seconds):
        """Keeps relaying and recording for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(deadline)

    def ask_stats(self, who, label="data", timeout=None):
        """Peer `who` sends `__stats__` on `label`; returns the reply the other side sent back
        (a dict with rx_bytes and rx_msgs) and when it arrived. On an ordered reliable channel
        the reply follows every byte sent before the request."""
        since = self.mark(who)
        self.peers[who].send({"type": "send", "label": label, "text": STATS_REQUEST})
        index = self.find(who, "stats reply", lambda v: stats_reply(v) is not None, since, timeout)
        return stats_reply(self.peers[who].events[index]), self.peers[who].stamps[index]

    def error_note(self, who):
        errors = self.peers[who].errors
        return f" (its errors: {errors[-3:]})" if errors else ""

    def finish(self, say_close=False, exit_timeout=8.0):
        """Ends every peer; with `say_close` all are told to close before any input ends."""
        if say_close:
            for peer in self.peers:
                peer.send({"type": "close"})
        for peer in self.peers:
            peer.finish(exit_timeout)


# --- the impairing relay between two peers -----------------------------------------------------


class ImpairRelay:
    """An `impair-relay` process (rust/impair-cli) between the two peers of a session: peer 0's
    candidates and descriptions are pointed at its address A, peer 1's at B, so every datagram
    goes through it. `spec` strings are its impairment text form (`impair-relay --help`), e.g.
    `loss=0.1,delay=10ms,jitter=200ms`."""

    def __init__(self, binary=None, seed=1, both=""):
        command = [relay_binary(binary), "--seed", str(seed), "--both", both]
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as e:
            raise Failure(f"cannot start impair-relay ({command[0]}): {e}")
        ready = self._read()
        if ready.get("event") != "ready":
            raise Failure(f"impair-relay did not start: {ready}")
        self.addresses = (ready["a"], ready["b"])

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise Failure("impair-relay exited")
        return json.loads(line)

    def ask(self, command):
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        self.proc.stdin.flush()
        answer = self._read()
        if answer.get("event") == "error":
            raise Failure(f"impair-relay: {answer.get('message')} (for {command})")
        return answer

    def rewrite(self, who, value):
        """A signalling line of peer `who` pointed at the relay (None: pass nothing on)."""
        end = "a" if who == 0 else "b"
        kind = value.get("type")
        if kind in ("offer", "answer"):
            return dict(value, sdp=self.ask({"type": "sdp", "from": end, "sdp": value.get("sdp", "")})["sdp"])
        if kind == "candidate" and value.get("candidate"):
            line = self.ask({"type": "candidate", "from": end, "candidate": value["candidate"]})["candidate"]
            return None if line is None else dict(value, candidate=line)
        return value

    def set(self, spec, direction="both"):
        self.ask({"type": "set", "direction": direction, "impairment": spec})

    def cut(self, seconds):
        self.ask({"type": "cut", "ms": int(seconds * 1000)})

    def stats(self):
        answer = self.ask({"type": "stats"})
        return answer["a_to_b"], answer["b_to_a"]

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- what peers print --------------------------------------------------------------------------


def is_event(name, label=None):
    return lambda v: v.get("event") == name and (label is None or v.get("label") == label)


def stats_reply(value):
    """The parsed reply to `__stats__` when `value` is that message event, else None."""
    if value.get("event") != "message" or value.get("binary"):
        return None
    try:
        parsed = json.loads(value.get("text", ""))
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and parsed.get("type") == "stats" else None


# --- result tables -----------------------------------------------------------------------------


def print_table(title, columns, rows, out):
    widths = [max(len(str(row[i])) for row in [columns] + rows) for i in range(len(columns))]
    out.write(f"\n{title}\n")
    out.write(" | ".join(str(cell).ljust(width) for cell, width in zip(columns, widths)) + "\n")
    out.write("-+-".join("-" * width for width in widths) + "\n")
    for row in rows:
        out.write(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "\n")


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- network namespace ---------------------------------------------------------------------------


def enter_loopback_namespace(marker_env, wanted=True):
    """Re-runs the current script in a fresh network namespace where only `lo` is up, so nothing
    a peer sends can leave the machine (the outer process exits with the inner one's status).
    Returns (inside, reason): whether we run in such a namespace, and why not when namespaces
    are unavailable (None otherwise)."""
    reason = _reexec_in_loopback_namespace(marker_env) if wanted else None
    return os.environ.get(marker_env) == "1", reason


def _reexec_in_loopback_namespace(marker_env):
    if os.environ.get(marker_env) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
        return None
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        return "no unshare/ip available"
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"network namespaces not permitted ({probe.stderr.decode().strip()})"
    env = dict(os.environ, **{marker_env: "1"})
    completed = subprocess.run([unshare, "-rn", sys.executable] + sys.argv, env=env)
    sys.exit(completed.returncode)
