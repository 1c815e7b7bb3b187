#!/usr/bin/env python3
"""Cold and warm latency of the Cloudflare worker on workerd (`wrangler dev`), over loopback.

Cold: wrangler dev is started afresh for every sample, and the first POST /v1/classify is
timed; it includes loading the model into the isolate. Warm: later requests to the same
isolate, by input length. Workers freeze timers during CPU work, so the worker's own
Server-Timing reads 0; these times are the client's, over loopback.

Usage: bench/cloudflare.py [--cold N] [--warm N]   (after scripts/build-worker)
Prints Markdown tables for bench/RESULTS.md. Needs only the Python standard library.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "please review the attached quarterly report before friday "


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base, payload):
    request = urllib.request.Request(
        base + "/v1/classify",
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    return (time.perf_counter() - started) * 1000, body


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=60) as response:
        return json.loads(response.read())


class Wrangler:
    """scripts/wrangler dev in its own process group, serving the prebuilt worker."""

    def __init__(self, extra=()):
        self.port = free_port()
        env = dict(os.environ, TRIAGE_WORKER_PREBUILT="1", CI="1")
        self.log = open(ROOT / "target" / f"bench-wrangler-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts/wrangler"), "dev", "--ip", "127.0.0.1",
             "--port", str(self.port), "--inspector-port", str(free_port()),
             "--show-interactive-dev-session=false", "--log-level", "warn", *extra],
            cwd=ROOT, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_listening(self, timeout=120):
        """Waits for the port to accept connections, without sending a request."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"wrangler dev did not listen on {self.port}")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def text_of(words):
    return (SENTENCE * (words // 8 + 1)).split()[:words]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="cold samples (restarts)")
    parser.add_argument("--warm", type=int, default=200, help="warm requests per length")
    args = parser.parse_args()

    short = {"text": " ".join(text_of(10))}
    cold = []
    for _ in range(args.cold):
        wrangler = Wrangler()
        try:
            wrangler.wait_listening()
            time.sleep(2)  # let workerd finish compiling the module before timing
            cold.append(post(wrangler.base, short)[0])
        finally:
            wrangler.stop()

    rows, memory = [], None
    # The default budget (128 tokens), then the model's full 256.
    for max_tokens, lengths in ((128, (10, 50, 100)), (256, (400,))):
        wrangler = Wrangler(["--var", f"TRIAGE_MAX_TOKENS:{max_tokens}"])
        try:
            wrangler.wait_listening()
            time.sleep(2)
            post(wrangler.base, short)  # load the model
            for words in lengths:
                payload = {"text": " ".join(text_of(words))}
                times, tokens = [], None
                for _ in range(args.warm):
                    elapsed, body = post(wrangler.base, payload)
                    times.append(elapsed)
                    tokens = body["tokens"]
                times.sort()
                p99 = times[max(0, int(len(times) * 0.99) - 1)]
                rows.append((max_tokens, tokens, statistics.median(times), p99))
            memory = get_json(wrangler.base, "/v1/models")["memory"]
        finally:
            wrangler.stop()

    print(f"cold (first request of a fresh isolate, n={len(cold)}): median "
          f"{statistics.median(cold):.1f} ms, min {min(cold):.1f}, max {max(cold):.1f}")
    print(f"\nwarm, {args.warm} sequential requests per row:\n")
    print("| TRIAGE_MAX_TOKENS | tokens | median | p99 |")
    print("|---|---|---|---|")
    for max_tokens, tokens, median, p99 in rows:
        print(f"| {max_tokens} | {tokens} | {median:.2f} ms | {p99:.2f} ms |")
    print(f"\nlinear memory after the 256-token run: {memory['current_bytes']:,} bytes")


if __name__ == "__main__":
    main()
