#!/usr/bin/env python3
"""aiortc peer speaking the interop line protocol (see interop/README.md) on stdin/stdout.

Run it with the venv the harness creates: `.interop/venv/bin/python interop/aiortc_peer.py
--role offerer|answerer [--label L] [--no-echo] [--sink] [--quiet] [--no-trickle] [--bind ADDR]`.
aiortc never trickles: its candidates (and a=end-of-candidates) are inside its descriptions, so
`--no-trickle` is accepted and changes nothing.
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import threading
import zlib

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

BULK_HIGH_WATER = 1 << 20
STATS_REQUEST = "__stats__"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["offerer", "answerer"], required=True)
    parser.add_argument("--label", default="data")
    parser.add_argument("--no-echo", dest="echo", action="store_false")
    parser.add_argument("--sink", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--no-trickle", action="store_true")
    parser.add_argument("--bind", default="127.0.0.1")
    return parser.parse_args()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def error(message):
    emit({"event": "error", "message": message})


class Peer:
    def __init__(self, args):
        self.args = args
        # aiortc's default configuration uses a public STUN server: loopback only here.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channels = []
        self.announced = set()
        self.rx_bytes = 0
        self.rx_msgs = 0
        self.pending_candidates = []
        self.state = "new"
        self.pc.on("connectionstatechange", self.on_state)
        self.pc.on("datachannel", self.track)

    def on_state(self):
        state = self.pc.connectionState
        if state != self.state:
            self.state = state
            emit({"event": "state", "state": state})

    def track(self, channel):
        self.channels.append(channel)
        channel.on("open", lambda: self.on_open(channel))
        channel.on("message", lambda message: self.on_message(channel, message))
        channel.on("close", lambda: emit({"event": "close", "label": channel.label}))
        if channel.readyState == "open":
            self.on_open(channel)

    def on_open(self, channel):
        if id(channel) in self.announced:
            return
        self.announced.add(id(channel))
        emit(
            {
                "event": "open",
                "label": channel.label,
                "id": channel.id,
                "ordered": channel.ordered,
                "protocol": channel.protocol,
                "maxRetransmits": channel.maxRetransmits,
                "maxPacketLifeTime": channel.maxPacketLifeTime,
                "negotiated": channel.negotiated,
            }
        )

    def on_message(self, channel, message):
        is_text = isinstance(message, str)
        data = message.encode("utf-8") if is_text else message
        if not self.args.quiet:
            event = {
                "event": "message",
                "label": channel.label,
                "binary": not is_text,
                "len": len(data),
                "crc32": zlib.crc32(data) & 0xFFFFFFFF,
            }
            if is_text:
                event["text"] = message
            elif not self.args.sink:
                event["b64"] = base64.b64encode(data).decode("ascii")
            emit(event)
        if is_text and message == STATS_REQUEST:
            reply = {"type": "stats", "rx_bytes": self.rx_bytes, "rx_msgs": self.rx_msgs}
            self.send_or_report(channel, json.dumps(reply), "stats reply")
            return
        if not is_text:
            self.rx_bytes += len(data)
            self.rx_msgs += 1
        if self.args.echo and not (self.args.sink and not is_text):
            self.send_or_report(channel, message, "echo")

    def send_or_report(self, channel, payload, what):
        try:
            channel.send(payload)
        except Exception as e:  # noqa: BLE001 - every failure becomes an error line
            error(f"{what} on {channel.label!r}: {type(e).__name__}: {e}")

    def find(self, label):
        for channel in reversed(self.channels):
            if (label is None or channel.label == label) and channel.readyState != "closed":
                return channel
        raise LookupError(f"no open channel labelled {label!r}")

    async def start(self):
        emit({"event": "ready", "role": self.args.role, "label": self.args.label, "stack": "aiortc"})
        if self.args.role == "offerer":
            self.track(self.pc.createDataChannel(self.args.label))
            await self.pc.setLocalDescription(await self.pc.createOffer())
            emit({"type": "offer", "sdp": self.pc.localDescription.sdp})

    async def apply(self, command):
        kind = command.get("type")
        if kind in ("offer", "answer"):
            await self.pc.setRemoteDescription(RTCSessionDescription(command["sdp"], kind))
            # aiortc drops candidates given before the remote description: replay them now.
            pending, self.pending_candidates = self.pending_candidates, []
            for candidate in pending:
                await self.pc.addIceCandidate(candidate)
            if kind == "offer":
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                emit({"type": "answer", "sdp": self.pc.localDescription.sdp})
        elif kind in ("candidate", "end-of-candidates"):
            await self.add_candidate(command)
        elif kind == "send":
            channel = self.find(command.get("label"))
            if "text" in command:
                channel.send(command["text"])
            else:
                channel.send(base64.b64decode(command["b64"], validate=True))
        elif kind == "send_bulk":
            channel = self.find(command.get("label"))
            asyncio.ensure_future(self.bulk(channel, int(command["bytes"]), int(command.get("chunk", 65536))))
        elif kind == "create_channel":
            negotiated = bool(command.get("negotiated", False))
            channel = self.pc.createDataChannel(
                command["label"],
                ordered=command.get("ordered", True),
                maxPacketLifeTime=command.get("maxPacketLifeTime"),
                maxRetransmits=command.get("maxRetransmits"),
                protocol=command.get("protocol", ""),
                negotiated=negotiated,
                id=command.get("id") if negotiated else None,
            )
            self.track(channel)
        elif kind == "close_channel":
            self.find(command["label"]).close()
        elif kind == "close":
            return False
        else:
            raise ValueError(f"unknown command type {kind!r}")
        return True

    async def add_candidate(self, command):
        text = command.get("candidate", "") if command.get("type") == "candidate" else ""
        text = text.removeprefix("a=").removeprefix("candidate:")
        if text:
            candidate = candidate_from_sdp(text)
            if candidate.protocol.lower() != "udp":
                return  # aiortc/aioice only do ICE over UDP
            candidate.sdpMid = command.get("sdpMid")
            candidate.sdpMLineIndex = command.get("sdpMLineIndex")
            if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
                candidate.sdpMLineIndex = 0
        else:
            candidate = None
        if self.pc.remoteDescription is None:
            self.pending_candidates.append(candidate)
        else:
            await self.pc.addIceCandidate(candidate)

    async def bulk(self, channel, total, chunk):
        payload = bytes(i % 251 for i in range(chunk))
        sent = msgs = 0
        try:
            while sent < total:
                while channel.bufferedAmount > BULK_HIGH_WATER:
                    await asyncio.sleep(0.002)
                size = min(chunk, total - sent)
                channel.send(payload[:size])
                sent += size
                msgs += 1
        except Exception as e:  # noqa: BLE001
            error(f"send_bulk on {channel.label!r} stopped after {sent} bytes: {type(e).__name__}: {e}")
            return
        emit({"event": "sent", "label": channel.label, "bytes": sent, "msgs": msgs})

    async def close(self):
        await self.pc.close()
        self.on_state()
        await asyncio.sleep(0.3)


def stdin_lines(loop, queue):
    for raw in sys.stdin.buffer:
        loop.call_soon_threadsafe(queue.put_nowait, raw)
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def main():
    args = parse_args()
    if os.environ.get("INTEROP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    # aioice leaves 127.0.0.1 out of its host addresses; gather on the bound address only.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.bind]
    peer = Peer(args)
    queue = asyncio.Queue()
    threading.Thread(target=stdin_lines, args=(asyncio.get_running_loop(), queue), daemon=True).start()
    await peer.start()
    while True:
        raw = await queue.get()
        if raw is None:
            break
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        try:
            command = json.loads(line)
            if not isinstance(command, dict):
                raise ValueError("a command must be a JSON object")
            if not await peer.apply(command):
                break
        except Exception as e:  # noqa: BLE001
            error(f"{type(e).__name__}: {e} (line: {line[:120]})")
    await peer.close()


if __name__ == "__main__":
    asyncio.run(main())
