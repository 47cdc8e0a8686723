#!/usr/bin/env python3
"""Interop runner: pairs two peers that speak the line protocol (interop/README.md), relays their
signalling to each other and drives the check matrix of issue 4 over a real connection.

    python3 interop/run.py [--no-netns] [--logs DIR] [--only CHECK,...] SUBJECT:OTHER ...

SUBJECT and OTHER are stack names: ours (target/release/webrtc-rs-peer), aiortc, ndc
(libdatachannel through node-datachannel), werift, chromium, firefox; `NAME@FLAG,FLAG` adds flags to that side
(e.g. `ours@--no-trickle:chromium`). Each pair runs four sessions: SUBJECT offers
or answers, and either side is the echoing responder while the other drives (--no-echo --sink).
A table of results and a final `N passed, M failed` line are printed; the exit status is 1 when
anything failed. A check that meets a documented defect of another stack (KNOWN_DEFECTS) must
show it exactly as described; it is counted as known (`, K skipped` on the final line), and
fails once the stack behaves correctly. Everything runs inside a fresh network namespace with only `lo` up when the
machine permits it (else on 127.0.0.1 only), and every peer gets `--bind 127.0.0.1`.

Standard library only.
"""

import argparse
import base64
import os
import random
import re
import shutil
import subprocess
import sys
import time
import zlib

from harness import INTEROP, Failure, Session, enter_loopback_namespace, is_event, markdown_table, peer_command, print_table

BULK_BYTES = 20 * 1024 * 1024
BULK_CHUNK = 64 * 1024
LOCAL_MAX = 262144
DEFAULT_REMOTE_MAX = 65536
# The largest limit the oversize check exceeds (it sends limit + 1 bytes through the line protocol).
OVERSIZE_MAX = 16 * 1024 * 1024
CONNECT_TIMEOUT = 20.0
STEP_TIMEOUT = 10.0
BULK_TIMEOUT = 150.0

# Defects of other stacks that a check meets, by (stack, check): the check then demands exactly
# the wrong result described (and fails if the stack behaves correctly, so the entry goes when
# the stack is fixed). Counted as `known`, never as passed.
KNOWN_DEFECTS = {
    ("werift", "unordered-rtx0"): {
        "role": "driver",
        "why": "werift's DATA_CHANNEL_OPEN drops the unordered bit when maxRetransmits or "
        "maxPacketLifeTime is set (channel type 0x01, not 0x81): the remote sees an ordered channel",
        "remote_sees": {"ordered": True},
    },
}

CHECKS = [
    ("connect", "connected, channel open both sides"),
    ("text-echo", "text echoed"),
    ("binary-echo", "binary echoed"),
    ("max-size", "256 KiB message (max-message-size) echoed"),
    ("oversize-refused", "message over the remote's max-message-size refused at sender"),
    ("unordered-rtx0", "unordered maxRetransmits:0 channel, options seen by remote"),
    ("lifetime", "maxPacketLifeTime channel, options seen by remote"),
    ("protocol", "protocol channel, protocol seen by remote"),
    ("remote-opened", "channel opened by the responder, used by the driver"),
    ("negotiated", "negotiated channel, same id both sides"),
    ("ice-restart", "ICE restart by the driver: new offer answered, messages sent around it arrive in order"),
    ("bulk-20MiB", "20 MiB one way, byte count checked via __stats__"),
    ("channel-close", "channel close seen by the other side"),
    ("connection-close", "connection close seen by the other side"),
]


def stack_command(spec, args):
    """The command line (and environment) that starts one peer of `spec`: a stack name,
    optionally followed by `@` and comma-separated extra flags (`ours@--no-trickle`)."""
    name, _, extra = spec.partition("@")
    command, env = peer_command(name, args.ours_bin)
    if name == "ours":
        # The engine's connection-level log lines end up in the session's stderr file.
        env.setdefault("RUST_LOG", "webrtc_rs_engine=debug,warn")
    return command + [flag for flag in extra.split(",") if flag], env


def max_message_size(sdp):
    found = re.search(r"a=max-message-size:(\d+)", sdp)
    return int(found.group(1)) if found else DEFAULT_REMOTE_MAX


def advertised_max(peer):
    """The max-message-size `peer` advertised; None before it printed a description."""
    return None if peer.description is None else max_message_size(peer.description)


class Known(str):
    """The note of a check that met a known defect of another stack exactly as described."""


# Stacks whose driver cannot restart ICE, and why (docs/interop.md, *ICE restart*).
NO_ICE_RESTART = {
    "ndc": "libdatachannel has no ICE restart (node-datachannel 0.33.4: restartIce() throws \"Not implemented\")",
    "aiortc": "aiortc has no ICE restart (no restartIce(), no iceRestart offer option)",
    "werift": "not driven: the werift driver has no restart_ice command",
}
RESTART_MESSAGES = 20
# Restarts driven by these stacks run without the path change (docs/interop.md, "ICE restart").
NO_PATH_CHANGE_WHEN_DRIVING = {
    "firefox": "with Firefox driving the restart and its old ports cut, the restarted session "
    "was selected in 8 of 8 sessions by hand but in 0 of 2 in a CI run; open",
}



def candidate_port(line):
    """The port of a candidate line (`candidate:... ADDRESS PORT typ ...`), or None."""
    fields = line.split()
    return int(fields[5]) if len(fields) > 7 and fields[5].isdigit() else None


def ice_ufrag(sdp):
    found = re.search(r"a=ice-ufrag:(\S+)", sdp or "")
    return found.group(1) if found else None


def known_defect(peer_name, check, role):
    """The KNOWN_DEFECTS entry for the stack of `peer_name` (`ours@--flag` counts as `ours`)
    acting as `role` in `check`, or None."""
    entry = KNOWN_DEFECTS.get((peer_name.partition("@")[0], check))
    return entry if entry and entry["role"] == role else None


def is_message(label, length=None):
    return lambda v: v.get("event") == "message" and v.get("label") == label and (length is None or v.get("len") == length)


class Checks:
    """Runs the checks of one session: D drives (--no-echo --sink), P echoes."""

    def __init__(self, session, d, p, only):
        self.s = session
        self.d = d
        self.p = p
        self.only = only
        self.results = {}
        self.figures = {}

    def run(self):
        steps = [
            ("connect", self.connect),
            ("text-echo", self.text_echo),
            ("binary-echo", self.binary_echo),
            ("max-size", self.max_size),
            ("oversize-refused", self.oversize),
            ("unordered-rtx0", lambda: self.options_channel("unrel", {"ordered": False, "maxRetransmits": 0}, "unordered-rtx0")),
            ("lifetime", lambda: self.options_channel("life", {"maxPacketLifeTime": 150}, "lifetime")),
            ("protocol", lambda: self.options_channel("proto", {"protocol": "chat.v1"}, "protocol")),
            ("remote-opened", self.remote_opened),
            ("negotiated", self.negotiated),
            ("ice-restart", self.ice_restart),
            ("bulk-20MiB", self.bulk),
            ("channel-close", self.channel_close),
            ("connection-close", self.connection_close),
        ]
        connected = False
        for name, step in steps:
            if name != "connect" and not connected:
                self.results[name] = (False, "not connected")
                continue
            if self.only and name not in self.only and name != "connect":
                continue
            try:
                note = step()
                self.results[name] = (True, note if isinstance(note, Known) else (note or ""))
                if name == "connect":
                    connected = True
            except Failure as e:
                self.results[name] = (False, str(e))
        return self.results

    # --- helpers -------------------------------------------------------------------------

    @property
    def dname(self):
        return self.s.peers[self.d].name

    @property
    def pname(self):
        return self.s.peers[self.p].name

    def echo_round(self, label, payload, is_text):
        """D sends `payload` on `label`; P must receive it intact and D must get it back."""
        dmark, pmark = self.s.mark(self.d), self.s.mark(self.p)
        data = payload.encode() if is_text else payload
        command = {"type": "send", "label": label}
        if is_text:
            command["text"] = payload
        else:
            command["b64"] = base64.b64encode(payload).decode()
        self.s.peers[self.d].send(command)
        crc = zlib.crc32(data) & 0xFFFFFFFF
        got = self.s.wait(self.p, f"{len(data)}-byte message on {label!r}", is_message(label, len(data)), pmark)
        if got.get("binary") == is_text:
            raise Failure(f"{self.pname} got it as {'binary' if is_text else 'text'}")
        if got.get("crc32") != crc:
            raise Failure(f"{self.pname} got corrupted data (crc {got.get('crc32')} != {crc})")
        if is_text and got.get("text") != payload:
            raise Failure(f"{self.pname} got text {got.get('text')!r}")
        back = self.s.wait(self.d, f"echo of the {len(data)}-byte message on {label!r}", is_message(label, len(data)), dmark)
        if back.get("binary") == is_text or back.get("crc32") != crc:
            raise Failure(f"{self.dname} got a wrong echo: binary={back.get('binary')} crc={back.get('crc32')}")
        if is_text and back.get("text") != payload:
            raise Failure(f"{self.dname} got echo text {back.get('text')!r}")

    def open_on(self, who, label, since=0, timeout=STEP_TIMEOUT):
        return self.s.wait(who, f"open of channel {label!r}", is_event("open", label), since, timeout)

    # --- checks ----------------------------------------------------------------------------

    def connect(self):
        started = time.monotonic()
        for who in (self.d, self.p):
            settled = self.s.wait(who, "connected state", lambda v: v.get("event") == "state" and v.get("state") in ("connected", "failed", "closed"), 0, CONNECT_TIMEOUT)
            if settled.get("state") != "connected":
                raise Failure(f"{self.s.peers[who].name} reports {settled.get('state')} before connecting{self.s.error_note(who)}")
        for who in (self.d, self.p):
            self.open_on(who, "data", 0, CONNECT_TIMEOUT)
        elapsed = time.monotonic() - started
        self.figures["setup_s"] = elapsed
        return f"{elapsed * 1000:.0f} ms"

    def text_echo(self):
        self.echo_round("data", f"héllo wörld ✓ {random.randint(0, 1 << 30)}", True)

    def binary_echo(self):
        self.echo_round("data", random.randbytes(1000) + b"\x00\xff", False)

    def limit(self):
        """What D may send to P: P's advertised maximum (0 means no limit)."""
        advertised = advertised_max(self.s.peers[self.p])
        return DEFAULT_REMOTE_MAX if advertised is None else advertised

    def max_size(self):
        limit = self.limit()
        size = LOCAL_MAX if limit == 0 else min(limit, LOCAL_MAX)
        back_limit = advertised_max(self.s.peers[self.d])
        if back_limit not in (None, 0) and back_limit < size:
            size = back_limit
        self.echo_round("data", random.randbytes(size), False)
        return f"{size} bytes"

    def oversize(self):
        limit = self.limit()
        if limit == 0:
            return f"{self.pname} advertises no limit: nothing to refuse"
        if limit > OVERSIZE_MAX:
            # Firefox advertises 1073741823: the other session (Firefox sending) checks the refusal.
            return f"{self.pname} advertises {limit}: too large to exceed here"
        dmark, pmark = self.s.mark(self.d), self.s.mark(self.p)
        size = limit + 1
        self.s.peers[self.d].send({"type": "send", "label": "data", "b64": base64.b64encode(random.randbytes(size)).decode()})
        self.s.wait(self.d, f"error refusing a {size}-byte message", is_event("error"), dmark, STEP_TIMEOUT)
        self.s.settle(0.5)
        if any(is_message("data", size)(v) for v in self.s.peers[self.p].events[pmark:]):
            raise Failure(f"{self.pname} received the {size}-byte message the sender should have refused")
        # The channel must still work afterwards.
        self.echo_round("data", "still open", True)
        return f"{size} bytes refused"

    def options_channel(self, label, options, check):
        pmark = self.s.mark(self.p)
        self.s.peers[self.d].send({"type": "create_channel", "label": label, **options})
        seen = self.open_on(self.p, label, pmark)
        self.open_on(self.d, label)
        expected = {
            "ordered": options.get("ordered", True),
            "maxRetransmits": options.get("maxRetransmits"),
            "maxPacketLifeTime": options.get("maxPacketLifeTime"),
            "protocol": options.get("protocol", ""),
            "negotiated": False,
        }
        unknown = seen.get("optionsKnown") is False
        defect = known_defect(self.dname, check, "driver")
        if defect and not unknown:
            correct = [key for key in defect["remote_sees"] if seen.get(key) == expected[key]]
            if correct:
                raise Failure(f"{self.pname} reports {', '.join(f'{k}={seen.get(k)!r}' for k in correct)}, "
                              f"the right value: {self.dname}'s known defect is gone, drop it from KNOWN_DEFECTS")
            expected.update(defect["remote_sees"])
        wrong = []
        for key, want in expected.items():
            if unknown and key in ("ordered", "maxRetransmits", "maxPacketLifeTime"):
                continue
            if seen.get(key) != want:
                wrong.append(f"{key}={seen.get(key)!r} (want {want!r})")
        if wrong:
            raise Failure(f"{self.pname} reports {', '.join(wrong)}")
        self.echo_round(label, f"on {label}", True)
        if defect and not unknown:
            return Known(f"{self.dname} defect: {defect['why']}")
        if unknown:
            return f"{self.pname} cannot report reliability; protocol/label checked"
        return f"id {seen.get('id')}"

    def remote_opened(self):
        dmark = self.s.mark(self.d)
        self.s.peers[self.p].send({"type": "create_channel", "label": "byp"})
        seen = self.open_on(self.d, "byp", dmark)
        self.open_on(self.p, "byp")
        self.echo_round("byp", "on a channel the other side opened", True)
        return f"id {seen.get('id')}"

    def negotiated(self):
        marks = {who: self.s.mark(who) for who in (self.d, self.p)}
        for who in (self.d, self.p):
            self.s.peers[who].send({"type": "create_channel", "label": "neg", "negotiated": True, "id": 42})
        for who in (self.d, self.p):
            seen = self.open_on(who, "neg", marks[who])
            if seen.get("id") != 42 or seen.get("negotiated") is not True:
                raise Failure(f"{self.s.peers[who].name} reports id={seen.get('id')} negotiated={seen.get('negotiated')}")
        self.echo_round("neg", "negotiated", True)

    def ice_restart(self):
        for who in (self.d, self.p):
            stack = self.s.peers[who].name.partition("@")[0]
            if stack in NO_ICE_RESTART:
                return Known(NO_ICE_RESTART[stack])
        peers = self.s.peers
        before = {who: ice_ufrag(peers[who].description) for who in (self.d, self.p)}
        before_candidates = {who: list(peers[who].candidates) for who in (self.d, self.p)}
        dmark, pmark = self.s.mark(self.d), self.s.mark(self.p)
        started = time.monotonic()
        peers[self.d].send({"type": "restart_ice"})
        half = RESTART_MESSAGES // 2
        for i in range(half):
            peers[self.d].send({"type": "send", "label": "data", "text": f"restart {i}"})
        # The driver's new offer and the responder's answer carry new credentials.
        deadline = time.monotonic() + STEP_TIMEOUT
        while any(ice_ufrag(peers[who].description) == before[who] for who in (self.d, self.p)):
            if time.monotonic() > deadline:
                raise Failure(f"no restarting offer and answer within {STEP_TIMEOUT:.0f} s{self.s.error_note(self.d)}{self.s.error_note(self.p)}")
            self.s.settle(0.05)
        renegotiated = time.monotonic() - started
        path_change = self.cut_old_path(before_candidates)
        try:
            for i in range(half, RESTART_MESSAGES):
                peers[self.d].send({"type": "send", "label": "data", "text": f"restart {i}"})
            last = f"restart {RESTART_MESSAGES - 1}"
            self.s.wait(self.p, "the messages sent around the restart",
                        lambda v: v.get("event") == "message" and v.get("text") == last, pmark)
            texts = [v.get("text") for v in peers[self.p].events[pmark:]
                     if v.get("event") == "message" and str(v.get("text", "")).startswith("restart ")]
            want = [f"restart {i}" for i in range(RESTART_MESSAGES)]
            if texts != want:
                raise Failure(f"{self.pname} received {texts} (want {want[0]} .. {last} in order)")
            # Still usable a moment later, on the restarted session.
            self.s.settle(1.0)
            self.echo_round("data", "after the ICE restart", True)
            for who, mark in ((self.d, dmark), (self.p, pmark)):
                bad = [v for v in peers[who].events[mark:]
                       if v.get("event") == "error" or (v.get("event") == "state" and v.get("state") in ("failed", "closed"))]
                if bad:
                    raise Failure(f"{peers[who].name} after the restart: {bad[0]}")
        finally:
            if shutil.which("iptables") and os.environ.get("INTEROP_NETNS") == "1":
                subprocess.run(["iptables", "-F", "INPUT"], check=False)
        return f"answered in {renegotiated * 1000:.0f} ms; {path_change}"

    def cut_old_path(self, before):
        """The path change in the middle of the restart: once the other stack announced
        candidates on new ports (browsers gather anew on a restart), every datagram to or from
        its old ports is dropped (iptables, inside the namespace), so the connection can only
        go on over a pair found by the restarted ICE. Returns what was done."""
        peers = self.s.peers
        other = next(w for w in (self.d, self.p) if not peers[w].name.startswith("ours"))
        stack = peers[other].name.partition("@")[0]
        if other == self.d and stack in NO_PATH_CHANGE_WHEN_DRIVING:
            return f"old path left open: {NO_PATH_CHANGE_WHEN_DRIVING[stack]}"
        old = {candidate_port(c) for c in before[other]} - {None}
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            new = {candidate_port(c) for c in peers[other].candidates[len(before[other]):]} - {None}
            if new - old:
                break
            if time.monotonic() > deadline:
                raise Failure(f"{peers[other].name} announced no candidate on a new port after the restart")
            self.s.settle(0.05)
        if not shutil.which("iptables") or os.environ.get("INTEROP_NETNS") != "1":
            return "old path left open (needs iptables inside the interop namespace)"
        for port in sorted(old):
            for rule in (["-A", "INPUT", "-p", "udp", "--dport", str(port), "-j", "DROP"],
                         ["-A", "INPUT", "-p", "udp", "--sport", str(port), "-j", "DROP"]):
                subprocess.run(["iptables"] + rule, check=True)
        return f"then {peers[other].name}'s old ports {sorted(old)} cut, new {sorted(new - old)}"

    def stats(self):
        return self.s.ask_stats(self.p)[0]

    def bulk(self):
        before = self.stats()
        pmark = self.s.mark(self.p)
        started = time.monotonic()
        self.s.peers[self.p].send({"type": "send_bulk", "label": "data", "bytes": BULK_BYTES, "chunk": BULK_CHUNK})
        sent = self.s.wait(self.p, "end of the bulk send", lambda v: v.get("event") in ("sent", "error"), pmark, BULK_TIMEOUT)
        if sent.get("event") == "error":
            raise Failure(f"{self.pname}: {sent.get('message')}")
        # `data` is ordered and reliable: the reply to this request follows every bulk byte.
        after = self.stats()
        elapsed = time.monotonic() - started
        got_bytes = after["rx_bytes"] - before["rx_bytes"]
        got_msgs = after["rx_msgs"] - before["rx_msgs"]
        want_msgs = BULK_BYTES // BULK_CHUNK
        if got_bytes != BULK_BYTES or got_msgs != want_msgs:
            raise Failure(f"{self.dname} counted {got_bytes} bytes in {got_msgs} messages (want {BULK_BYTES} in {want_msgs})")
        rate = BULK_BYTES / elapsed / 1e6
        self.figures["bulk_MBps"] = rate
        return f"{rate:.1f} MB/s"

    def channel_close(self):
        pmark = self.s.mark(self.p)
        self.s.peers[self.d].send({"type": "close_channel", "label": "proto"})
        self.s.wait(self.p, "close of channel 'proto'", is_event("close", "proto"), pmark)
        self.s.wait(self.d, "close of its own channel 'proto'", is_event("close", "proto"))
        # The connection and its other channels must be unaffected.
        self.echo_round("data", "after a channel close", True)

    def connection_close(self):
        pmark = self.s.mark(self.p)
        self.s.peers[self.d].send({"type": "close"})
        self.s.wait(self.p, "close of channel 'data' after the remote closed", is_event("close", "data"), pmark, 15.0)
        self.s.settle(0.3)
        states = [v.get("state") for v in self.s.peers[self.p].events[pmark:] if v.get("event") == "state"]
        return f"{self.pname} states after: {states or 'unchanged'}"


def run_session(args, subject, other, subject_offers, subject_echoes, log_root):
    """One session; returns (results, figures)."""
    names = [subject, other] if subject_offers else [other, subject]  # index 0 offers
    subject_index = 0 if subject_offers else 1
    p = subject_index if subject_echoes else 1 - subject_index  # the echoing responder
    specs = []
    for index, name in enumerate(names):
        command, env = stack_command(name, args)
        flags = ["--role", "offerer" if index == 0 else "answerer", "--bind", "127.0.0.1"]
        if index != p:
            flags += ["--no-echo", "--sink"]
        flags += args.extra.get(name.partition("@")[0], [])
        specs.append((name, command + flags, env))
    tag = f"{subject}-{'offers' if subject_offers else 'answers'}-{'echoes' if subject_echoes else 'drives'}-vs-{other}"
    try:
        session = Session(specs, os.path.join(log_root, tag), step_timeout=STEP_TIMEOUT)
    except Failure as e:
        return {name: (False, str(e)) for name, _ in CHECKS}, {}
    checks = Checks(session, 1 - p, p, args.only)
    try:
        results = checks.run()
    finally:
        session.finish()
    return results, checks.figures


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", metavar="SUBJECT:OTHER")
    parser.add_argument("--no-netns", action="store_true", help="do not enter a network namespace")
    parser.add_argument("--logs", default=os.path.join(INTEROP, "logs"), help="where peer transcripts and stderr go")
    parser.add_argument("--ours-bin", help="webrtc-rs-peer binary (default target/release/webrtc-rs-peer)")
    parser.add_argument("--only", help="comma-separated check names (connect always runs)")
    parser.add_argument("--roles", default="offers,answers", help="subject roles to run: offers,answers")
    parser.add_argument("--flags", action="append", default=[], metavar="STACK=FLAGS", help="extra flags for a stack, e.g. ours=--no-trickle")
    parser.add_argument("--markdown", help="also write the result table as Markdown to this file")
    parser.add_argument("--docs", help="replace the matrix summary section of this Markdown file (docs/interop.md)")
    args = parser.parse_args()
    args.only = set(args.only.split(",")) if args.only else None
    args.extra = {}
    for item in args.flags:
        name, _, flags = item.partition("=")
        args.extra.setdefault(name, []).extend(flags.split())
    return args


def main():
    args = parse_args()
    inside, reason = enter_loopback_namespace("INTEROP_NETNS", wanted=not args.no_netns)
    if inside:
        where = "network namespace with only lo up"
        print(f"interop: running in a {where}", flush=True)
    else:
        where = f"{reason}: running on 127.0.0.1 only" if reason else "127.0.0.1 only (--no-netns)"
        print(f"interop: {where}", flush=True)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    log_root = os.path.join(args.logs, run_id)
    passed = failed = known = 0
    markdown = []
    summary = {}
    started = time.monotonic()
    for pair in args.pairs:
        subject, _, other = pair.partition(":")
        if not other:
            raise SystemExit(f"run.py: a pair is SUBJECT:OTHER, not {pair!r}")
        roles = [r for r in ("offers", "answers") if r in args.roles.split(",")]
        columns = ["check"]
        table = {name: [] for name, _ in CHECKS}
        notes = []
        for role in roles:
            for subject_echoes in (True, False):
                column = f"{subject} {role}, {'echoes' if subject_echoes else 'drives'}"
                columns.append(column)
                t0 = time.monotonic()
                results, figures = run_session(args, subject, other, role == "offers", subject_echoes, log_root)
                print(f"  {subject} vs {other}: {column}: {time.monotonic() - t0:.1f}s {figures}", flush=True)
                for name, _ in CHECKS:
                    if name not in results:
                        table[name].append("-")
                        continue
                    ok, detail = results[name]
                    outcome = "known" if ok and isinstance(detail, Known) else ok
                    summary.setdefault((subject, f"{other}, {subject} {role}"), {}).setdefault(name, []).append(outcome)
                    if outcome == "known":
                        known += 1
                        table[name].append("known defect")
                        notes.append(f"{column} / {name}: {detail}")
                    elif ok:
                        passed += 1
                        table[name].append("pass" + (f" ({detail})" if detail and len(detail) < 40 else ""))
                        if detail and len(detail) >= 40:
                            notes.append(f"{column} / {name}: {detail}")
                    else:
                        failed += 1
                        table[name].append("FAIL")
                        if detail != "not connected":
                            notes.append(f"{column} / {name}: {detail}")
        rows = [[name] + cells for name, cells in table.items()]
        print_table(f"{subject} vs {other}", columns, rows, sys.stdout)
        for item in notes:
            print(f"  note: {item}")
        markdown.append((subject, other, columns, rows, notes))
        sys.stdout.flush()
    summary_tables = summarize(summary)
    for subject, columns, rows in summary_tables:
        print_table(f"summary for {subject} (pass = every session of that stack and role passed)", columns, rows, sys.stdout)
    elapsed = time.monotonic() - started
    print(f"\nlogs: {log_root}  ({elapsed:.0f}s)")
    if args.markdown:
        write_markdown(args.markdown, summary_tables, markdown, where)
    totals = f"{passed} passed, {failed} failed" + (f", {known} known" if known else "")
    if args.docs:
        write_docs(args.docs, summary_tables, where, args.pairs, totals, elapsed)
    if known:
        print(f"known: {known} checks met another stack's documented defect exactly as described "
              "(KNOWN_DEFECTS in interop/run.py); counted as skipped below")
    print(f"{passed} passed, {failed} failed" + (f", {known} skipped" if known else ""))
    return 1 if failed else 0


def summarize(summary):
    """Per subject: check x (other stack, subject's role), pass only if every session passed."""
    tables = []
    for subject in dict.fromkeys(key[0] for key in summary):
        keys = [key for key in summary if key[0] == subject]
        columns = ["check"] + [key[1] for key in keys]
        rows = []
        for name, _ in CHECKS:
            row = [name]
            for key in keys:
                outcomes = summary[key].get(name)
                if not outcomes:
                    row.append("-")
                elif False in outcomes:
                    row.append("FAIL")
                elif "known" in outcomes:
                    row.append("known defect")
                else:
                    row.append("pass")
            rows.append(row)
        tables.append((subject, columns, rows))
    return tables


DOCS_BEGIN = "<!-- matrix summary: begin (written by interop/run.py --docs) -->"
DOCS_END = "<!-- matrix summary: end -->"


def write_docs(path, summary_tables, where, pairs, totals, elapsed):
    """Replaces the summary between DOCS_BEGIN and DOCS_END in `path` with this run's."""
    with open(path) as f:
        text = f.read()
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"run.py: {path} has no {DOCS_BEGIN!r} ... {DOCS_END!r} section")
    parts = [
        DOCS_BEGIN,
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {where}, "
        f"{elapsed:.0f} s: **{totals}**. Pairs: `{' '.join(pairs)}`. Each cell is one stack and "
        "role: `pass` when every session of it passed that check, `known defect` when the "
        "other stack's documented defect (below) showed exactly as described.",
    ]
    for subject, columns, rows in summary_tables:
        parts += ["", f"Subject `{subject}`:", "", markdown_table(columns, rows).rstrip("\n")]
    parts += ["", DOCS_END]
    with open(path, "w") as f:
        f.write(text[:begin] + "\n".join(parts) + text[end + len(DOCS_END):])


def write_markdown(path, summary_tables, tables, where):
    with open(path, "w") as out:
        out.write(f"<!-- generated by interop/run.py; {where} -->\n")
        for subject, columns, rows in summary_tables:
            out.write(f"\n#### Summary: {subject} (each cell: both sessions of that role)\n\n")
            out.write(markdown_table(columns, rows))
        for subject, other, columns, rows, notes in tables:
            out.write(f"\n#### {subject} vs {other}\n\n")
            out.write(markdown_table(columns, rows))
            for item in notes:
                out.write(f"\n- {item}")
            out.write("\n")


if __name__ == "__main__":
    sys.exit(main())
