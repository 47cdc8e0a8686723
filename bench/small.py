"""Small-message scenarios of the benchmark (games send many small messages, not bulk data).

For each stack paired with itself (the sender offers, the receiver answers and counts), one
session per scenario and repetition:
  - flat out: N messages of 64 or 200 bytes as fast as the sender's flow control allows (at most
    1 MiB buffered), on the reliable ordered channel `data` or on an unordered `maxRetransmits: 0`
    channel `fast`;
  - game rate: 50 messages every 1/60 s for a few seconds, the same sizes and channels.
Every message carries its send time (wall clock, both processes on one machine), so the
receiver reports one-way latency p50/p99. Per session: messages per second (flat out; timed from
the command to the last message counted by the receiver), delivered fraction, CPU time (user+sys
of all threads) per message of each peer, and UDP datagrams per message (both directions, from
/proc/net/snmp: only inside the benchmark's own network namespace, where the two peers are the
only UDP users).
"""

import time

from harness import Failure, is_event

GAME_HZ = 60
GAME_PER_TICK = 50
UNRELIABLE = {"type": "create_channel", "label": "fast", "ordered": False, "maxRetransmits": 0}
SETTLE_POLL = 0.1
SETTLE_QUIET = 0.5


class Scenario:
    def __init__(self, size, reliable, paced, count):
        self.size = size
        self.reliable = reliable
        self.paced = paced
        self.count = count

    @property
    def label(self):
        return "data" if self.reliable else "fast"

    @property
    def name(self):
        channel = "reliable ordered" if self.reliable else "unordered maxRetransmits 0"
        rate = f"{GAME_HZ} Hz x {GAME_PER_TICK}" if self.paced else "flat out"
        return f"{self.size} B, {channel}, {rate}"


def scenarios(sizes, flat_count, game_seconds):
    out = []
    for paced in (False, True):
        for reliable in (True, False):
            for size in sizes:
                count = GAME_HZ * GAME_PER_TICK * game_seconds if paced else flat_count
                out.append(Scenario(size, reliable, paced, count))
    return out


def udp_out_datagrams():
    try:
        with open("/proc/net/snmp") as snmp:
            rows = [line.split() for line in snmp if line.startswith("Udp:")]
        return int(rows[1][rows[0].index("OutDatagrams")])
    except (OSError, IndexError, ValueError):
        return None


def run(session, scenario, netns, cpu_seconds, timeout):
    """Runs one scenario on a connected session whose channel `data` is open on both sides."""
    if not scenario.reliable:
        mark = [session.mark(0), session.mark(1)]
        session.peers[0].send(UNRELIABLE)
        for who in (0, 1):
            session.find(who, "open of channel 'fast'", is_event("open", "fast"), mark[who], timeout)
    sender, receiver = session.peers
    before_cpu = [cpu_seconds(peer) for peer in (sender, receiver)]
    before_udp = udp_out_datagrams() if netns else None
    command = {
        "type": "send_bulk",
        "label": scenario.label,
        "bytes": scenario.size * scenario.count,
        "chunk": scenario.size,
        "stamp": True,
    }
    if scenario.paced:
        command.update(rate_hz=GAME_HZ, per_tick=getattr(scenario, "per_tick", GAME_PER_TICK))
    mark = session.mark(0)
    started = time.time()
    sender.send(command)
    session.find(0, "end of the send", is_event("sent"), mark, timeout)
    stats = _settled_stats(session, scenario, timeout)
    after_cpu = [cpu_seconds(peer) for peer in (sender, receiver)]
    after_udp = udp_out_datagrams() if netns else None
    received = stats.get("rx_msgs", 0)
    if scenario.reliable and received != scenario.count:
        raise Failure(f"receiver counted {received} of {scenario.count} reliable messages")
    if received == 0:
        raise Failure("receiver counted no message")
    figures = {
        "delivered": received / scenario.count,
        "cpu_us_per_msg": [(a - b) * 1e6 / received for a, b in zip(after_cpu, before_cpu)],
        "lat_p50_ms": stats.get("lat_p50_us", 0) / 1000,
        "lat_p99_ms": stats.get("lat_p99_us", 0) / 1000,
    }
    if not scenario.paced:
        # Both processes read the same wall clock: from the command to the last arrival.
        figures["msgs_per_s"] = received / (stats["lat_last_arrival_us"] / 1e6 - started)
    if before_udp is not None and after_udp is not None:
        figures["datagrams_per_msg"] = (after_udp - before_udp) / received
    return figures


def _settled_stats(session, scenario, timeout):
    """The receiver's counts once they reach the sent count or stop growing (unreliable
    messages travel on another stream than the request, so one reply may come early)."""
    deadline = time.monotonic() + timeout
    stats, at = session.ask_stats(0, "data")
    last_count, last_change = stats.get("rx_msgs", 0), at
    while not scenario.reliable and last_count < scenario.count and time.monotonic() < deadline:
        time.sleep(SETTLE_POLL)
        stats, at = session.ask_stats(0, "data")
        count = stats.get("rx_msgs", 0)
        if count != last_count:
            last_count, last_change = count, at
        elif at - last_change >= SETTLE_QUIET:
            break
    return stats

