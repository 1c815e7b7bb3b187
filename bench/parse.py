#!/usr/bin/env python3
"""Cost of `POST /v1/parse` and of ad-hoc labels on every adapter, over loopback.

- parse: the shipped support-ticket schema by name (cached after the first request),
  timed by the server's own Server-Timing (tokenize + inference) and by the client;
- compile: a schema the server has not seen (a fresh inline copy each time, so the cache
  misses) against the same schema cached, client-side: what a cache miss adds;
- labels per text: batches of 32 texts against 3 ad-hoc labels, Server-Timing / 32, so
  workerd's 1 ms timer resolution shrinks to about 0.03 ms.

Usage: bench/parse.py [--rounds N] [--adapters native,spin,cloudflare] [--json PATH]
  (after cargo build --release -p triage-native, scripts/build-spin, scripts/build-worker)
Prints a Markdown table for bench/RESULTS.md. Needs only the Python standard library.
"""

import argparse
import json
import statistics
import time
import urllib.request

from cloudflare import Wrangler
from loopback import ROOT, native_serve, server_timing
from spin import wasmtime_serve

TICKET = "The whole site is down since this morning and nobody can log in, customers are losing money"
SCHEMA = json.loads((ROOT / "schemas/support-ticket.json").read_text())
LABELS = ["billing", "outage", "sales"]


def call(base, path, payload):
    """(client ms, server tokenize + inference ms) of one POST."""
    request = urllib.request.Request(
        base + path, data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        timing = server_timing(response.headers.get("server-timing", ""))
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, timing.get("tokenize", 0.0) + timing.get("inference", 0.0)


def measure(base, rounds):
    call(base, "/v1/parse", {"text": TICKET, "schema": "support-ticket"})  # warm up
    parse = [call(base, "/v1/parse", {"text": TICKET, "schema": "support-ticket"})
             for _ in range(rounds)]
    miss, hit = [], []
    for n in range(min(rounds, 50)):
        fresh = json.loads(json.dumps(SCHEMA))
        fresh["description"] = f"bench copy {n} {time.time()}"
        miss.append(call(base, "/v1/parse", {"text": TICKET, "schema": fresh})[0])
        hit.append(call(base, "/v1/parse", {"text": TICKET, "schema": fresh})[0])
    labels = [call(base, "/v1/classify", {"texts": [TICKET] * 32, "labels": LABELS})[1] / 32
              for _ in range(max(rounds // 10, 5))]
    return {
        "parse_server_ms": statistics.median(s for _, s in parse),
        "parse_client_ms": statistics.median(c for c, _ in parse),
        "compile_ms": statistics.median(m - h for m, h in zip(miss, hit)),
        "labels_per_text_ms": statistics.median(labels),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--adapters", default="native,spin,cloudflare")
    ap.add_argument("--json", help="also write the results here (bench/run's report reads it)")
    args = ap.parse_args()
    starts = {
        "native": lambda: native_serve("parse-native"),
        "spin": lambda: wasmtime_serve("parse-spin", "triage.wasm"),
        "cloudflare": lambda: Wrangler(),
    }
    rows = {}
    for name in args.adapters.split(","):
        with starts[name]() as server:
            server.wait_listening()
            deadline = time.time() + 120
            while True:  # the first answer may wait for the runtime to compile the module
                try:
                    call(server.base, "/v1/parse", {"text": "hi", "schema": "support-ticket"})
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.5)
            rows[name] = measure(server.base, args.rounds)
    print(f"rounds: {args.rounds}; text: {len(TICKET.split())} words (20 tokens)")
    print("| adapter | parse, server (tokenize + inference) | parse, client | schema compile (cache miss) | labels, per text |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['parse_server_ms']:.3f} ms | {r['parse_client_ms']:.2f} ms | "
              f"{r['compile_ms']:.2f} ms | {r['labels_per_text_ms']:.3f} ms |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"tokens": 20, "rounds": args.rounds, "adapters": rows}, out, indent=1)


if __name__ == "__main__":
    main()
