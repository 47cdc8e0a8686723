"""Impaired-path scenarios of the benchmark: each stack with itself through the impairing relay
(`impair-relay`, rust/impair-cli), every candidate pointed at it, our stack and libdatachannel
alternating session by session.

Every path has a bottleneck: BOTTLENECK_BPS each way with a tail-drop queue in the relay,
  - deep queue: DEEP_QUEUE bytes (about 200 ms at the bottleneck rate: a bloated home router),
  - shallow queue: SHALLOW_QUEUE bytes (about 13 ms, some 27 full-size datagrams: a router or
    phone that drops bursts),
plus a fixed one-way delay of half the round-trip time, and for some rows random loss or bursty
loss (Gilbert-Elliott, mean burst BURST datagrams), in both directions. The connection is set up
on the delayed path without loss; the loss starts right before the transfer.

Reliable rows: one transfer of 1 MiB as 16 KiB messages on the reliable ordered channel `data`
(`send_bulk`), timed from the command to the receiver's `__stats__` reply (so one round trip
more than the last byte's arrival, for both stacks alike), whose counts must match.

Unreliable row: 64-byte messages on an unordered `maxRetransmits: 0` channel at game rate
(bench/small.py's paced scenario, 10 every 1/60 s), each stamped with its send time; the
receiver reports one-way latency p50/p99 and the delivered share.
"""

import time

import small
from harness import Failure, ImpairRelay, is_event

MIB = 1024 * 1024
BOTTLENECK_BPS = 20_000_000
DEEP_QUEUE = 512 * 1024
SHALLOW_QUEUE = 32 * 1024
BURST = 3
TRANSFER = MIB
MESSAGE = 16 * 1024
UNRELIABLE_SPEC = "delay=20ms,jitter=200ms,loss=0.05"
UNRELIABLE_SECONDS = 3
# Messages per 1/60 s tick on the unreliable row: 600 a second, 38 kB/s of payload (at small.py's
# 50 a tick, 3,000 a second, the jittery path's congestion window holds both stacks back and
# messages wait seconds in the send queue, which measures the queue, not the path).
UNRELIABLE_PER_TICK = 10


class Row:
    """One reliable path: round-trip time, queue, loss (probability, bursty?)."""

    def __init__(self, rtt_ms, queue, loss=0.0, bursty=False):
        self.rtt_ms = rtt_ms
        self.queue = queue
        self.loss = loss
        self.bursty = bursty

    @property
    def name(self):
        queue = "deep" if self.queue == "deep" else "shallow"
        loss = "no loss"
        if self.loss:
            loss = f"{self.loss * 100:g} % {'bursty' if self.bursty else 'random'} loss"
        return f"{self.rtt_ms} ms RTT, {queue} queue, {loss}"

    def base_spec(self):
        queue = DEEP_QUEUE if self.queue == "deep" else SHALLOW_QUEUE
        return f"delay={self.rtt_ms // 2}ms,bandwidth={BOTTLENECK_BPS}/{queue}"

    def spec(self):
        if not self.loss:
            return self.base_spec()
        loss = f"{self.loss}/{BURST}" if self.bursty else f"{self.loss}"
        return f"{self.base_spec()},loss={loss}"


# The default rows: every RTT with both queues and no loss, then loss at the RTTs where it
# matters most, random and bursty (not the full cross product, to keep the run to minutes).
ROWS = [
    Row(20, "deep"),
    Row(20, "shallow"),
    Row(40, "deep"),
    Row(40, "shallow"),
    Row(100, "deep"),
    Row(100, "shallow"),
    Row(200, "deep"),
    Row(200, "shallow"),
    Row(40, "deep", 0.005),
    Row(40, "deep", 0.02),
    Row(40, "shallow", 0.02),
    Row(100, "deep", 0.01),
    Row(20, "deep", 0.05),
    Row(40, "deep", 0.02, bursty=True),
    Row(100, "deep", 0.05, bursty=True),
]


def rows(selection):
    """The default rows, or those whose index (0-based) is in `selection`."""
    return ROWS if not selection else [ROWS[i] for i in selection]


def _transfer(session, timeout):
    sender = session.peers[0]
    mark = session.mark(0)
    started = time.monotonic()
    sender.send({"type": "send_bulk", "label": "data", "bytes": TRANSFER, "chunk": MESSAGE})
    session.find(0, "end of the bulk send", is_event("sent"), mark, timeout)
    stats, done = session.ask_stats(0, "data", timeout)
    want = -(-TRANSFER // MESSAGE)
    if stats.get("rx_bytes") != TRANSFER or stats.get("rx_msgs") != want:
        raise Failure(f"receiver counted {stats.get('rx_bytes')} bytes in {stats.get('rx_msgs')} messages (want {TRANSFER} in {want})")
    return done - started


def run_reliable(start_session, connect, finish, pair, row, seed, relay_bin, timeout):
    """One session of `pair` through a relay on `row`'s path; returns its figures."""
    relay = ImpairRelay(relay_bin, seed=seed, both=row.base_spec())
    try:
        session = start_session(pair[0], pair[1], relay.rewrite)
        try:
            connect(session)
            relay.set(row.spec())
            seconds = _transfer(session, timeout)
            a_to_b, b_to_a = relay.stats()
        finally:
            finish(session)
    finally:
        relay.close()
    dropped = sum(s.get("lost", 0) + s.get("queue_full", 0) for s in (a_to_b, b_to_a))
    return {"seconds": seconds, "mbps": TRANSFER / seconds / 1e6, "dropped": dropped, "queue_full": a_to_b.get("queue_full", 0)}


def run_unreliable(start_session, connect, finish, pair, seed, relay_bin, cpu_seconds, timeout):
    """64-byte game-rate messages on an unreliable channel through the jittery lossy path."""
    relay = ImpairRelay(relay_bin, seed=seed, both="")
    scenario = small.Scenario(64, False, True, small.GAME_HZ * UNRELIABLE_PER_TICK * UNRELIABLE_SECONDS)
    scenario.per_tick = UNRELIABLE_PER_TICK
    try:
        session = start_session(pair[0], pair[1], relay.rewrite)
        try:
            connect(session)
            relay.set(UNRELIABLE_SPEC)
            return small.run(session, scenario, False, cpu_seconds, timeout)
        finally:
            finish(session)
    finally:
        relay.close()
