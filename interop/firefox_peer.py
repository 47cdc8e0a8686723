#!/usr/bin/env python3
"""Headless Firefox (Debian's firefox-esr) peer speaking the interop line protocol (see
interop/README.md).

    python3 interop/firefox_peer.py --role offerer|answerer [--label L] [--no-echo] [--sink]
        [--quiet] [--no-trickle] [--bind 127.0.0.1] [--no-mdns] [--pref NAME=JSON]
        [--firefox /usr/bin/firefox-esr]

Standard library only, no browser automation: the page is the one Chromium runs
(interop/chromium_page.js), served from 127.0.0.1 together with a WebSocket at /ws. The page
connects to it; this bridge sends it the options first, then every stdin line (the page calls
`handle(line)`), and prints every line the page sends.

Firefox gathers as it does for any web page that captures nothing: only its *default address*
(the source address of a route towards the outside), hidden behind an mDNS name
(`<uuid>.local`). It needs the runner's loopback-only network namespace (INTEROP_NETNS=1),
where this driver adds `default dev lo src 127.0.0.1` so that the default address is
127.0.0.1; outside one it would announce the machine's own interface, so it refuses to run.
`--no-mdns` announces 127.0.0.1 itself (`media.peerconnection.ice.obfuscate_host_addresses`);
`--pref NAME=JSON` sets any other pref (`--pref permissions.default.microphone=1` makes it
gather every interface with loopback, as for a page with a capture permission).
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The page: chromium_page.js, then a WebSocket to the bridge and `emitLine` for that script.
PAGE = """<!doctype html><meta charset=utf-8><title>interop peer</title>
<script src=/page.js></script>
<script>
'use strict';
const bridge = new WebSocket(`ws://${location.host}/ws`);
window.emitLine = (text) => bridge.send(text);
let started = false;
bridge.onmessage = (e) => {
  if (!started) { started = true; start(JSON.parse(e.data)); }
  else handle(e.data);
};
bridge.onerror = () => console.error('bridge error');
window.onerror = (message) => emitLine(JSON.stringify({ event: 'error', message: `page: ${message}` }));
</script>
"""
PREFS = {
    # Without it Firefox drops 127.0.0.1 when it gathers (WebRTC on loopback is off by default).
    "media.peerconnection.ice.loopback": True,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "dom.disable_open_during_load": False,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["offerer", "answerer"], required=True)
    parser.add_argument("--label", default="data")
    parser.add_argument("--no-echo", dest="echo", action="store_false")
    parser.add_argument("--sink", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--no-trickle", dest="trickle", action="store_false")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--no-mdns", dest="mdns", action="store_false", help="plain IP host candidates, no .local names")
    parser.add_argument("--pref", action="append", default=[], metavar="NAME=JSON", help="an extra Firefox pref (JSON value)")
    parser.add_argument("--firefox", default=shutil.which("firefox-esr") or shutil.which("firefox") or "/usr/bin/firefox-esr")
    return parser.parse_args()


def log(message):
    sys.stderr.write(f"firefox_peer: {message}\n")
    sys.stderr.flush()


def emit_raw(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class WebSocket:
    """The server side of one WebSocket (RFC 6455): text frames out, text frames in."""

    def __init__(self, sock, rfile):
        self.sock = sock
        self.rfile = rfile
        self.lock = threading.Lock()

    def send(self, text):
        data = text.encode()
        header = bytes([0x81])
        if len(data) < 126:
            header += bytes([len(data)])
        elif len(data) < 1 << 16:
            header += bytes([126]) + struct.pack("!H", len(data))
        else:
            header += bytes([127]) + struct.pack("!Q", len(data))
        with self.lock:
            self.sock.sendall(header + data)

    def _frame(self):
        head = self.rfile.read(2)
        if len(head) < 2:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.rfile.read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self.rfile.read(8))[0]
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        payload = bytearray(self.rfile.read(length))
        for i in range(len(payload)):
            payload[i] ^= mask[i % 4]
        return head[0] & 0x80, opcode, bytes(payload)

    def messages(self):
        """Yields each text message the page sends until it closes."""
        parts = []
        while True:
            frame = self._frame()
            if frame is None:
                return
            fin, opcode, payload = frame
            if opcode == 0x8:
                return
            if opcode == 0x9:
                with self.lock:
                    self.sock.sendall(bytes([0x8A, len(payload)]) + payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if fin:
                    yield b"".join(parts).decode("utf-8", errors="replace")
                    parts = []


def serve(bind, connected):
    """Serves the page and the bridge's WebSocket on an ephemeral port; returns its origin.
    `connected` receives the WebSocket once the page opened it."""
    with open(os.path.join(HERE, "chromium_page.js"), "rb") as f:
        script = f.read()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/ws":
                return self.upgrade()
            body, kind = (script, "text/javascript") if self.path == "/page.js" else (PAGE.encode(), "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def upgrade(self):
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ws = WebSocket(self.connection, self.rfile)
            done = threading.Event()
            connected.put((ws, done))
            done.wait()  # the bridge reads this socket; keep it open until it is done
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((bind, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{bind}:{server.server_address[1]}"


DEFAULT_ROUTE = ["default", "dev", "lo", "src", "127.0.0.1"]


def add_default_route():
    """Firefox takes the source address of a route towards the outside (no packet is sent) as
    its only address; without any route it gathers nothing, and a route over `lo` without
    `src` gives it 0.0.0.0. Inside the runner's loopback-only namespace a default route over
    `lo` from 127.0.0.1 makes that 127.0.0.1 (nothing can leave: the namespace has no other
    interface). True when this process added it (and removes it at exit)."""
    routes = subprocess.run(["ip", "route", "show", "default"], capture_output=True, text=True)
    if routes.stdout.strip():
        return False
    return subprocess.run(["ip", "route", "add"] + DEFAULT_ROUTE, capture_output=True).returncode == 0


def start_firefox(firefox, profile, url, mdns, extra):
    prefs = dict(PREFS, **{"media.peerconnection.ice.obfuscate_host_addresses": mdns})
    for item in extra:
        name, _, value = item.partition("=")
        prefs[name] = json.loads(value)
    with open(os.path.join(profile, "user.js"), "w") as f:
        for name, value in prefs.items():
            f.write(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n")
    env = dict(os.environ, MOZ_HEADLESS="1", MOZ_CRASHREPORTER_DISABLE="1")
    return subprocess.Popen(
        [firefox, "--headless", "--no-remote", "--profile", profile, url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(profile, "firefox.log"), "wb"),
        env=env,
        start_new_session=True,
    )


def main():
    args = parse_args()
    profile = tempfile.mkdtemp(prefix="interop-firefox-")
    firefox = None
    ws = done = None
    added_route = False
    try:
        if os.environ.get("INTEROP_NETNS") != "1":
            raise RuntimeError("Firefox runs only inside interop/run.py's loopback-only network namespace "
                               "(outside it, it would announce the machine's own interface)")
        connected = queue.Queue()
        origin = serve(args.bind, connected)
        added_route = add_default_route()
        firefox = start_firefox(args.firefox, profile, origin + "/", args.mdns, args.pref)
        try:
            ws, done = connected.get(timeout=30)
        except queue.Empty:
            raise RuntimeError("the page did not connect to the bridge within 30 s")
        closed = threading.Event()

        def pump():
            for text in ws.messages():
                emit_raw(text)
                if '"state":"closed"' in text.replace(" ", ""):
                    closed.set()
            closed.set()

        threading.Thread(target=pump, daemon=True).start()
        options = {k: getattr(args, k) for k in ("role", "label", "echo", "sink", "quiet", "trickle")}
        ws.send(json.dumps(dict(options, stack="firefox")))
        for raw in sys.stdin.buffer:
            line = raw.decode("utf-8", errors="replace").strip()
            if line:
                ws.send(line)
            if firefox.poll() is not None:
                raise RuntimeError("firefox exited")
        # End of input means close; give the close time to reach the remote.
        ws.send('{"type":"close"}')
        closed.wait(3)
        time.sleep(0.3)
    except (RuntimeError, OSError) as e:
        emit_raw(json.dumps({"event": "error", "message": f"firefox driver: {e}"}))
        return 1
    finally:
        if done is not None:
            done.set()
        if added_route:
            subprocess.run(["ip", "route", "del"] + DEFAULT_ROUTE, capture_output=True)
        if firefox is not None:
            try:
                os.killpg(firefox.pid, 15)
                firefox.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(firefox.pid, 9)
                except ProcessLookupError:
                    pass
                firefox.wait()
        log_path = os.path.join(profile, "firefox.log")
        if os.environ.get("INTEROP_DEBUG") and os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                sys.stderr.write(f.read()[-4000:])
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
