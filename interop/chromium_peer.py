#!/usr/bin/env python3
"""Headless Chromium peer speaking the interop line protocol (see interop/README.md).

    python3 interop/chromium_peer.py --role offerer|answerer [--label L] [--no-echo] [--sink]
        [--quiet] [--no-trickle] [--bind 127.0.0.1] [--chromium /usr/bin/chromium]

Standard library only. Chromium runs headless with `--remote-debugging-pipe`; the page
(interop/chromium_page.js) is served from 127.0.0.1 so it has a trustworthy origin, and the
capture permissions are granted over the DevTools protocol: without them (and without
`--allow-loopback-in-peer-connection`) Chromium gathers no candidate on a loopback-only host.
stdin lines go to the page's `handle()`, lines the page reports through the `emitLine` binding
come out on stdout.
"""

import argparse
import http.server
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = "<!doctype html><meta charset=utf-8><title>interop peer</title><script src=/page.js></script>"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["offerer", "answerer"], required=True)
    parser.add_argument("--label", default="data")
    parser.add_argument("--no-echo", dest="echo", action="store_false")
    parser.add_argument("--sink", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--no-trickle", dest="trickle", action="store_false")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    return parser.parse_args()


def log(message):
    sys.stderr.write(f"chromium_peer: {message}\n")
    sys.stderr.flush()


def emit_raw(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def serve_page(bind):
    """Serves the page on an ephemeral port; returns its origin."""
    with open(os.path.join(HERE, "chromium_page.js"), "rb") as f:
        script = f.read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, kind = (script, "text/javascript") if self.path == "/page.js" else (PAGE.encode(), "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((bind, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{bind}:{server.server_address[1]}"


class DevTools:
    """The DevTools protocol over `--remote-debugging-pipe` (fd 3 in, fd 4 out, NUL framed)."""

    def __init__(self, chromium, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-loopback-in-peer-connection",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            [chromium] + flags,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(profile, "chromium.log"), "wb"),
            preexec_fn=child_fds,
            # Python's own descriptors are close-on-exec (PEP 446); only the dup2'ed 3 and 4
            # must survive, and close_fds would close them after preexec_fn ran.
            close_fds=False,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.waiting = {}
        self.handlers = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self.from_chrome, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                frame, buffer = buffer.split(b"\0", 1)
                message = json.loads(frame)
                if "id" in message:
                    slot = self.waiting.pop(message["id"], None)
                    if slot is not None:
                        slot[1] = message
                        slot[0].set()
                else:
                    for handler in self.handlers:
                        handler(message)
        for slot in list(self.waiting.values()):
            slot[0].set()

    def send(self, method, params=None, session=None, wait=True, timeout=15.0):
        message = {"id": next(self.ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        slot = [threading.Event(), None]
        if wait:
            self.waiting[message["id"]] = slot
        with self.lock:
            os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        if not wait:
            return None
        if not slot[0].wait(timeout) or slot[1] is None:
            raise RuntimeError(f"DevTools {method}: no answer")
        if "error" in slot[1]:
            raise RuntimeError(f"DevTools {method}: {slot[1]['error']}")
        return slot[1].get("result", {})

    def close(self):
        try:
            self.send("Browser.close", timeout=3.0)
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main():
    args = parse_args()
    profile = tempfile.mkdtemp(prefix="interop-chromium-")
    devtools = None
    try:
        origin = serve_page(args.bind)
        devtools = DevTools(args.chromium, profile)
        page_ready = threading.Event()
        closed = threading.Event()

        def on_event(message):
            method = message.get("method")
            params = message.get("params", {})
            if method == "Runtime.bindingCalled" and params.get("name") == "emitLine":
                payload = params.get("payload", "")
                emit_raw(payload)
                if '"state": "closed"' in payload or '"state":"closed"' in payload:
                    closed.set()
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                log(f"page exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled":
                log("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Page.loadEventFired":
                page_ready.set()

        devtools.handlers.append(on_event)
        devtools.send("Browser.grantPermissions", {"origin": origin, "permissions": ["audioCapture", "videoCapture"]})
        target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        devtools.send("Runtime.enable", session=session)
        devtools.send("Page.enable", session=session)
        devtools.send("Runtime.addBinding", {"name": "emitLine"}, session=session)
        devtools.send("Page.navigate", {"url": origin + "/"}, session=session)
        if not page_ready.wait(15):
            raise RuntimeError("the page did not load")
        options = {k: getattr(args, k) for k in ("role", "label", "echo", "sink", "quiet", "trickle")}
        devtools.send("Runtime.evaluate", {"expression": f"start({json.dumps(options)})"}, session=session)

        for raw in sys.stdin.buffer:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            devtools.send("Runtime.evaluate", {"expression": f"handle({json.dumps(line)})"}, session=session, wait=False)
            if devtools.proc.poll() is not None:
                raise RuntimeError("chromium exited")
        # End of input means close; give the close time to reach the remote.
        devtools.send("Runtime.evaluate", {"expression": 'handle(\'{"type":"close"}\')'}, session=session, wait=False)
        closed.wait(3)
        time.sleep(0.3)
    except (RuntimeError, OSError, KeyError) as e:
        emit_raw(json.dumps({"event": "error", "message": f"chromium driver: {e}"}))
        return 1
    finally:
        if devtools is not None:
            devtools.close()
        shutil.rmtree(profile, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
