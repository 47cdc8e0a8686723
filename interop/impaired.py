#!/usr/bin/env python3
"""Impaired interop: our peer against another stack through the impairing relay (`impair-relay`,
rust/impair-cli), which sits between them with every candidate pointed at it.

    python3 interop/impaired.py [--no-netns] [--logs DIR] [--only SCENARIO,...] OTHER ...

OTHER is a stack name of interop/run.py (ndc, aiortc, werift, chromium). For each, both roles
(ours offers, ours answers) run every scenario, each in a fresh session on its own relay:

- loss-2, loss-10: connected on a clean path, the path turns bad both ways (2 % or 10 % loss,
  10 ms delay plus up to 200 ms jitter, 5 % of datagrams held back 30 ms more, 5 % duplicated);
  each side sends MESSAGES numbered text messages on the reliable ordered channel: each side
  must receive every one, intact and in order.
- outage-3s: both sides send a numbered message every 50 ms while the path is cut both ways
  for 3 s, and on for half a second after: every message arrives, in order, and neither side
  reports failed or closed (with the default timings a 3 s cut stays under DISCONNECTED's 5 s).
- setup-10, setup-20: the path loses 10 % or 20 % of the datagrams both ways (10 ms delay) from
  the first one, handshakes included: both sides must report connected and open the `data`
  channel within SETUP_TIMEOUT, then each side's 20 numbered messages must all arrive, in
  order, through the same path. The setup time is reported. Not started again on failure: the
  handshake is what is tested.
- unreliable-10: the offerer opens an ordered `maxRetransmits: 0` channel on the clean path,
  then the path loses 10 % both ways (10 ms delay, no jitter: a late datagram would count as
  lost); each side sends UNRELIABLE_MESSAGES numbered messages 10 ms apart on it. What arrives
  must be in order, each once and intact, and at least UNRELIABLE_SHARE of what was sent (a
  lost message must be skipped, not hold back or take later ones with it); then, on the clean
  path again, 10 more each way must all arrive: the channel never stalls.

A session whose connection does not come up on the clean path (before any impairment; that is
run.py's `connect` check, and a libdatachannel offerer has a race there, docs/interop.md
defect 4) is started again, up to three attempts, each failed attempt printed as a note. Prints a table and `N passed, M failed`; exits 1 when
anything failed. Runs inside a network
namespace with only `lo` up when the machine permits it, like run.py.

Standard library only.
"""

import argparse
import os
import sys
import time

from harness import INTEROP, Failure, ImpairRelay, Session, enter_loopback_namespace, is_event, peer_command, print_table

CONNECT_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 40.0
MESSAGES = 100
MESSAGE_LEN = 400

# The bad path: loss, 10 ms + up to 200 ms jitter, 5 % held back 30 ms, 5 % duplicated.
BAD_PATH = "loss={loss},delay=10ms,jitter=200ms,reorder=0.05/30ms,duplicate=0.05"
OUTAGE = 3.0
OUTAGE_TICK = 0.05

UNRELIABLE_PATH = "loss=0.10,delay=10ms"
UNRELIABLE_MESSAGES = 200
UNRELIABLE_AFTER = 10
# The path loses about 10 % of the datagrams each way; a stack that skips lost messages
# promptly delivers about 90 % (rtc-sctp alone, ordered: about half, see KNOWN_ISSUES.md).
UNRELIABLE_SHARE = 0.75

SETUP_PATH = "loss={loss},delay=10ms"
SETUP_TIMEOUT = 40.0
SETUP_MESSAGES = 20

SCENARIOS = ["loss-2", "loss-10", "outage-3s", "setup-10", "setup-20", "unreliable-10"]


def text_message(side, index):
    """Message `index` sent by peer `side`: its number first, padded to MESSAGE_LEN."""
    head = f"{side}:{index}:"
    return head + "x" * (MESSAGE_LEN - len(head))


def received(session, who, since):
    """The text messages peer `who` received on `data` from event `since` on."""
    return [v.get("text", "") for v in session.peers[who].events[since:] if is_event("message", "data")(v)]


def check_sequence(session, who, texts, sent):
    """`texts` (what peer `who` got) must be the other side's `sent` messages, in order, each
    intact."""
    sender = 1 - who
    name = session.peers[who].name
    expected = [text_message(sender, i) for i in range(sent)]
    if texts == expected:
        return
    for i, (got, want) in enumerate(zip(texts, expected)):
        if got != want:
            raise Failure(f"{name}: message {i} is {got[:16]!r}..., not {want[:16]!r}...")
    raise Failure(f"{name}: {len(texts)} messages, not {sent}")


def wait_all(session, marks, sent, timeout):
    """Waits until each peer received `sent[other]` messages on `data` since `marks`; returns
    the texts each got."""
    deadline = time.monotonic() + timeout
    while True:
        got = [received(session, who, marks[who]) for who in (0, 1)]
        if all(len(got[who]) >= sent[1 - who] for who in (0, 1)):
            return got
        if time.monotonic() >= deadline:
            counts = ", ".join(f"{session.peers[w].name} {len(got[w])} of {sent[1 - w]}" for w in (0, 1))
            raise Failure(f"not every message arrived within {timeout:.0f}s: {counts}")
        states = failed_states(session, [0, 0])
        if states:
            raise Failure(states)
        session.settle(0.05)


def failed_states(session, marks):
    """A description of any failed/closed state either peer reported since `marks`, or ''."""
    bad = []
    for who in (0, 1):
        for v in session.peers[who].events[marks[who]:]:
            if v.get("event") == "state" and v.get("state") in ("failed", "closed"):
                bad.append(f"{session.peers[who].name} reported {v['state']}")
    return "; ".join(bad)


def states_since(session, who, since):
    return [v["state"] for v in session.peers[who].events[since:] if v.get("event") == "state"]


class SetupFailure(Failure):
    """The connection did not come up on the clean path, before any impairment."""


def connect(session):
    try:
        for who in (0, 1):
            settled = session.wait(who, "connected state", lambda v: v.get("event") == "state" and v.get("state") in ("connected", "failed", "closed"), 0, CONNECT_TIMEOUT)
            if settled.get("state") != "connected":
                raise Failure(f"{session.peers[who].name} reports {settled.get('state')} before connecting{session.error_note(who)}")
        for who in (0, 1):
            session.wait(who, "open of channel 'data'", is_event("open", "data"), 0, CONNECT_TIMEOUT)
    except Failure as e:
        raise SetupFailure(str(e))


def lossy(session, relay, loss):
    relay.set(BAD_PATH.format(loss=loss))
    marks = [session.mark(0), session.mark(1)]
    started = time.monotonic()
    for i in range(MESSAGES):
        for who in (0, 1):
            session.peers[who].send({"type": "send", "label": "data", "text": text_message(who, i)})
    got = wait_all(session, marks, [MESSAGES, MESSAGES], DELIVERY_TIMEOUT)
    took = time.monotonic() - started
    for who in (0, 1):
        check_sequence(session, who, got[who], MESSAGES)
    a_to_b, b_to_a = relay.stats()
    lost = a_to_b["lost"] + b_to_a["lost"]
    if lost == 0 or a_to_b["duplicated"] + b_to_a["duplicated"] == 0:
        raise Failure(f"the path did not impair: {a_to_b} / {b_to_a}")
    return f"{MESSAGES} each way in {took:.1f}s, {lost} datagrams lost"


def outage(session, relay):
    marks = [session.mark(0), session.mark(1)]
    sent = [0, 0]
    started = time.monotonic()
    relay.cut(OUTAGE)
    while time.monotonic() - started < OUTAGE + 0.5:
        for who in (0, 1):
            session.peers[who].send({"type": "send", "label": "data", "text": text_message(who, sent[who])})
            sent[who] += 1
        session.settle(OUTAGE_TICK)
    got = wait_all(session, marks, sent, DELIVERY_TIMEOUT)
    took = time.monotonic() - started
    for who in (0, 1):
        check_sequence(session, who, got[who], sent[1 - who])
    session.settle(0.2)
    bad = failed_states(session, marks)
    if bad:
        raise Failure(bad)
    cut = sum(s["cut"] for s in relay.stats())
    if cut == 0:
        raise Failure("the cut dropped nothing")
    states = {session.peers[w].name: states_since(session, w, marks[w]) or ["connected"] for w in (0, 1)}
    return f"{sent[0]}+{sent[1]} messages by {took:.1f}s; states {states}"


def lossy_setup(session, started):
    """The setup-N scenarios (module docstring): the relay loses from the start."""
    for who in (0, 1):
        settled = session.wait(who, "connected state", lambda v: v.get("event") == "state" and v.get("state") in ("connected", "failed", "closed"), 0, SETUP_TIMEOUT)
        if settled.get("state") != "connected":
            raise Failure(f"{session.peers[who].name} reports {settled.get('state')} before connecting{session.error_note(who)}")
    for who in (0, 1):
        session.wait(who, "open of channel 'data'", is_event("open", "data"), 0, SETUP_TIMEOUT)
    took = time.monotonic() - started
    marks = [session.mark(0), session.mark(1)]
    for i in range(SETUP_MESSAGES):
        for who in (0, 1):
            session.peers[who].send({"type": "send", "label": "data", "text": text_message(who, i)})
    got = wait_all(session, marks, [SETUP_MESSAGES, SETUP_MESSAGES], DELIVERY_TIMEOUT)
    for who in (0, 1):
        check_sequence(session, who, got[who], SETUP_MESSAGES)
    return f"connected with the channel open at both ends {took:.1f}s after the start"


def received_on(session, who, label, since):
    return [v.get("text", "") for v in session.peers[who].events[since:] if is_event("message", label)(v)]


def unreliable(session, relay):
    """The unreliable-10 scenario (module docstring)."""
    mark = session.mark(1)
    session.peers[0].send({"type": "create_channel", "label": "pr", "maxRetransmits": 0})
    for who in (0, 1):
        session.wait(who, "open of channel 'pr'", is_event("open", "pr"), mark if who == 1 else 0, CONNECT_TIMEOUT)
    relay.set(UNRELIABLE_PATH)
    marks = [session.mark(0), session.mark(1)]
    for i in range(UNRELIABLE_MESSAGES):
        for who in (0, 1):
            session.peers[who].send({"type": "send", "label": "pr", "text": text_message(who, i)})
        session.settle(0.01)
    session.settle(1.5)
    relay.set("none")
    for i in range(UNRELIABLE_MESSAGES, UNRELIABLE_MESSAGES + UNRELIABLE_AFTER):
        for who in (0, 1):
            session.peers[who].send({"type": "send", "label": "pr", "text": text_message(who, i)})
    deadline = time.monotonic() + 5.0
    while True:
        got = [received_on(session, who, "pr", marks[who]) for who in (0, 1)]
        done = all(text_message(1 - who, UNRELIABLE_MESSAGES + UNRELIABLE_AFTER - 1) in got[who] for who in (0, 1))
        if done or time.monotonic() >= deadline:
            break
        session.settle(0.05)
    details = []
    for who in (0, 1):
        name, sender = session.peers[who].name, 1 - who
        numbers = []
        for text in got[who]:
            parts = text.split(":")
            if len(parts) < 3 or parts[0] != str(sender) or text != text_message(sender, int(parts[1])):
                raise Failure(f"{name}: damaged message {text[:24]!r}")
            numbers.append(int(parts[1]))
        if numbers != sorted(set(numbers)):
            raise Failure(f"{name}: out of order or twice: {numbers}")
        after = [n for n in numbers if n >= UNRELIABLE_MESSAGES]
        if after != list(range(UNRELIABLE_MESSAGES, UNRELIABLE_MESSAGES + UNRELIABLE_AFTER)):
            raise Failure(f"{name}: on the clean path again got {after}: the channel stalled")
        lossy_part = len(numbers) - len(after)
        if lossy_part < UNRELIABLE_SHARE * UNRELIABLE_MESSAGES:
            raise Failure(f"{name}: {lossy_part} of {UNRELIABLE_MESSAGES} arrived through 10 % loss; relay {relay.stats()}")
        details.append(f"{name} got {lossy_part}/{UNRELIABLE_MESSAGES}")
    a_to_b, b_to_a = relay.stats()
    if a_to_b["lost"] + b_to_a["lost"] == 0:
        raise Failure("the path lost nothing")
    path = f"datagrams lost/received {a_to_b['lost']}/{a_to_b['received']} offerer->answerer, {b_to_a['lost']}/{b_to_a['received']} back"
    return ", ".join(details) + f"; {path}"


def run_scenario(args, scenario, other, ours_offers, seed, log_root):
    names = ["ours", other] if ours_offers else [other, "ours"]
    specs = []
    for index, name in enumerate(names):
        command, env = peer_command(name, args.ours_bin)
        if name == "ours":
            env.setdefault("RUST_LOG", "webrtc_rs_engine=debug,warn")
        flags = ["--role", "offerer" if index == 0 else "answerer", "--bind", "127.0.0.1", "--no-echo"]
        specs.append((name, command + flags, env))
    tag = f"{scenario}-ours-{'offers' if ours_offers else 'answers'}-vs-{other}"
    setup_loss = {"setup-10": 0.10, "setup-20": 0.20}.get(scenario)
    initial = SETUP_PATH.format(loss=setup_loss) if setup_loss else ""
    relay = ImpairRelay(args.relay_bin, seed=seed, both=initial)
    try:
        started = time.monotonic()
        session = Session(specs, os.path.join(log_root, tag), step_timeout=SETUP_TIMEOUT, rewrite=relay.rewrite)
        try:
            if setup_loss:
                return lossy_setup(session, started)
            connect(session)
            if scenario == "loss-2":
                return lossy(session, relay, 0.02)
            if scenario == "loss-10":
                return lossy(session, relay, 0.10)
            if scenario == "unreliable-10":
                return unreliable(session, relay)
            return outage(session, relay)
        finally:
            session.finish()
    finally:
        relay.close()


SETUP_ATTEMPTS = 3


def run_with_setup_retries(args, scenario, other, ours_offers, seed, log_root, notes):
    """`run_scenario`, started again (up to SETUP_ATTEMPTS in all) when the connection did not
    come up on the clean path. That setup is run.py's `connect` check, and a libdatachannel
    offerer has a race there (docs/interop.md, defect 4: it rejects our certificate with
    `unknown_ca` when the handshake beats its own processing of our answer), which the relay's
    extra hop makes more frequent; it must not fail a scenario about the bad path, but every
    retry is shown."""
    role = "offers" if ours_offers else "answers"
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        try:
            return run_scenario(args, scenario, other, ours_offers, seed, log_root + (f"-retry{attempt - 1}" if attempt > 1 else ""))
        except SetupFailure as e:
            notes.append(f"{scenario}, ours {role} vs {other}: setup attempt {attempt} failed on the clean path: {e}")
            if attempt == SETUP_ATTEMPTS:
                raise
            time.sleep(0.5)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("others", nargs="+", metavar="OTHER")
    parser.add_argument("--no-netns", action="store_true", help="do not enter a network namespace")
    parser.add_argument("--logs", default=os.path.join(INTEROP, "logs"), help="where peer transcripts and stderr go")
    parser.add_argument("--ours-bin", help="webrtc-rs-peer binary (default target/release/webrtc-rs-peer)")
    parser.add_argument("--relay-bin", help="impair-relay binary (default target/release/impair-relay)")
    parser.add_argument("--only", help=f"comma-separated scenarios ({', '.join(SCENARIOS)})")
    parser.add_argument("--first-seed", type=int, default=1, help="the relay seed of the first session (each next one takes the next seed), to repeat a run's session")
    args = parser.parse_args()
    args.scenarios = args.only.split(",") if args.only else SCENARIOS
    for scenario in args.scenarios:
        if scenario not in SCENARIOS:
            raise SystemExit(f"impaired.py: unknown scenario {scenario!r} ({', '.join(SCENARIOS)})")
    return args


def main():
    args = parse_args()
    inside, reason = enter_loopback_namespace("INTEROP_NETNS", wanted=not args.no_netns)
    where = "a network namespace with only lo up" if inside else (f"{reason}: 127.0.0.1 only" if reason else "127.0.0.1 only (--no-netns)")
    print(f"impaired interop: running in {where}", flush=True)
    log_root = os.path.join(args.logs, "impaired-" + time.strftime("%Y%m%d-%H%M%S"))
    passed = failed = 0
    notes = []
    started = time.monotonic()
    for other in args.others:
        columns = ["scenario", f"ours offers to {other}", f"ours answers {other}"]
        rows = []
        for scenario in args.scenarios:
            row = [scenario]
            for role, ours_offers in (("offers", True), ("answers", False)):
                seed = passed + failed + args.first_seed
                t0 = time.monotonic()
                try:
                    detail = run_with_setup_retries(args, scenario, other, ours_offers, seed, log_root, notes)
                    passed += 1
                    row.append("pass")
                    notes.append(f"{scenario}, ours {role} vs {other}: {detail}")
                except Failure as e:
                    failed += 1
                    row.append("FAIL")
                    notes.append(f"{scenario}, ours {role} vs {other}: FAILED: {e}")
                print(f"  {scenario}, ours {role} vs {other}: {row[-1]} ({time.monotonic() - t0:.1f}s)", flush=True)
            rows.append(row)
        print_table(f"ours vs {other} through the impairing relay", columns, rows, sys.stdout)
    for note in notes:
        print(f"  {note}")
    print(f"\nlogs: {log_root}  ({time.monotonic() - started:.0f}s)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
