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
    """Client-side milliseconds, the body, and the worker's own tokenize+inference ms."""
    request = urllib.request.Request(
        base + "/v1/classify",
        data=json.dumps(payload, separators=(",", ":")).encode(),
        headers={"content-type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
        timing = response.headers.get("server-timing", "")
    elapsed = (time.perf_counter() - started) * 1000
    inside = sum(float(part.split("dur=")[1]) for part in timing.split(",") if "dur=" in part)
    return elapsed, body, inside


def largest_request(base):
    """Sends the largest request the budgets allow (as the contract test does) and returns
    (client ms, linear memory bytes afterwards)."""
    budgets = get_json(base, "/v1/models")["budgets"]
    per_text = min((budgets["max_body_bytes"] - 16) // budgets["max_batch"] - 3,
                   budgets["max_text_bytes"])
    text = (SENTENCE * (per_text // len(SENTENCE) + 1))[:per_text]
    payload = {"texts": [text] * budgets["max_batch"]}
    elapsed = post(base, payload)[0]
    return elapsed, get_json(base, "/v1/models")["memory"]["current_bytes"]


def floor_ms(base, n=200):
    """Median client-side time of GET /healthz: wrangler's proxy and the client, no model."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        get_json(base, "/healthz")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


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
    cold, first_get, first_classify = [], [], []
    for sample in range(args.cold):
        wrangler = Wrangler()
        try:
            wrangler.wait_listening()
            time.sleep(2)  # let wrangler finish starting workerd before timing
            if sample % 2 == 0:
                # The first request of the isolate loads the model.
                cold.append(post(wrangler.base, short)[0])
            else:
                # Split it: a request without model work first (module instantiation),
                # then the one that loads the model.
                started = time.perf_counter()
                get_json(wrangler.base, "/openapi.json")
                first_get.append((time.perf_counter() - started) * 1000)
                first_classify.append(post(wrangler.base, short)[0])
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
                times, insides, tokens = [], [], None
                for _ in range(args.warm):
                    elapsed, body, inside = post(wrangler.base, payload)
                    times.append(elapsed)
                    insides.append(inside)
                    tokens = body["tokens"]
                times.sort()
                p99 = times[max(0, int(len(times) * 0.99) - 1)]
                rows.append((max_tokens, tokens, statistics.median(times), p99,
                             statistics.median(insides)))
            memory = get_json(wrangler.base, "/v1/models")["memory"]
            floor = floor_ms(wrangler.base)
            largest = largest_request(wrangler.base)
        finally:
            wrangler.stop()

    def summary(xs):
        return f"median {statistics.median(xs):.1f} ms, min {min(xs):.1f}, max {max(xs):.1f}"

    print(f"cold, first POST /v1/classify of a fresh isolate (n={len(cold)}): {summary(cold)}")
    if first_get:
        print(f"  split (n={len(first_get)}): first GET /openapi.json {summary(first_get)};"
              f" then the first POST /v1/classify {summary(first_classify)}")
    print(f"\nwarm, {args.warm} sequential requests per row; `worker` is the median of the"
          " worker's own Server-Timing (tokenize + inference, 1 ms resolution):\n")
    print("| TRIAGE_MAX_TOKENS | tokens | client median | client p99 | worker median |")
    print("|---|---|---|---|---|")
    for max_tokens, tokens, median, p99, inside in rows:
        print(f"| {max_tokens} | {tokens} | {median:.2f} ms | {p99:.2f} ms | {inside:.0f} ms |")
    print(f"\nGET /healthz (no model work): median {floor:.2f} ms")
    print(f"linear memory after the 256-token run: {memory['current_bytes']:,} bytes;"
          f" after the largest allowed request ({largest[0]:.0f} ms):"
          f" {largest[1]:,} bytes")
    if os.environ.get("MINIFLARE_WORKERD_V8_FLAGS"):
        print(f"V8 flags: {os.environ['MINIFLARE_WORKERD_V8_FLAGS']}")


if __name__ == "__main__":
    main()
