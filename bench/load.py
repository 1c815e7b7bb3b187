#!/usr/bin/env python3
"""Bounded load test of each adapter over loopback with wrk (Debian package `wrk`).

For each adapter: start it, warm it up, sample its memory, run wrk (`--connections`
connections, `--duration` seconds, it stops by itself) with a mix of classify requests
(13, 58 and 114 tokens, and a batch of 4), sampling memory every 5 s meanwhile, then
check that a real spam message is still classified as spam. Reported per adapter:
requests/s, latency p50/p99, errors (socket errors, timeouts and non-2xx answers; the
goal is 0), and memory at start and end: the RSS of the server's whole process group
and, for the wasm adapters, their linear memory (from GET /v1/models).

    cargo build --release -p triage-native          # native
    scripts/build-spin && scripts/build-worker      # spin, cloudflare
    python3 bench/load.py [--duration 60] [--connections 64] [--json PATH] [native spin cloudflare]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from loopback import ROOT, Server, free_port, get_json, native_serve, post, text_of

SPAM = "WIN a FREE cruise!!! Click here now to claim your prize, limited offer, act now"

WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("TRIAGE_LOAD_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/v1/classify", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'TRIAGE_LOAD {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def group_rss_bytes(pgid):
    """Resident memory of every process in process group `pgid`."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields after the name: state, ppid, pgrp, ...
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def memory(server):
    linear = get_json(server.base, "/v1/models")["memory"]["current_bytes"]
    return group_rss_bytes(server.proc.pid), linear


def native():
    return native_serve("load-native")


def spin():
    port = free_port()
    return Server("load-spin", [
        "wasmtime", "serve", "-Scli", "-Skeyvalue", "--addr", f"127.0.0.1:{port}",
        "-Wmax-memory-size=134217728", str(ROOT / "target/spin/triage.wasm")], port)


def cloudflare():
    port = free_port()
    return Server("load-cloudflare", [
        str(ROOT / "scripts/wrangler"), "dev", "--ip", "127.0.0.1", "--port", str(port),
        "--inspector-port", str(free_port())], port,
        env={"TRIAGE_WORKER_PREBUILT": "1", "WRANGLER_SEND_METRICS": "false"})


ADAPTERS = {"native": native, "spin": spin, "cloudflare": cloudflare}


def bodies_file():
    path = ROOT / "target" / "load-bodies.jsonl"
    bodies = [{"text": text_of(words)} for words in (10, 50, 100)]
    bodies.append({"texts": [text_of(10)] * 4})
    path.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    return path


def run_wrk(base, connections, duration, bodies):
    script = ROOT / "target" / "load.lua"
    script.write_text(WRK_SCRIPT)
    command = ["wrk", "--threads", "1", "--connections", str(connections),
               "--duration", f"{duration}s", "--timeout", "30s", "--script", str(script), base]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env=dict(os.environ, TRIAGE_LOAD_BODIES=str(bodies))).stdout
    line = next(l for l in out.splitlines() if l.startswith("TRIAGE_LOAD "))
    return json.loads(line.split(" ", 1)[1])


def load_one(name, connections, duration, bodies):
    with ADAPTERS[name]() as server:
        server.wait_listening()
        deadline = time.time() + 300
        while True:  # wrangler listens before workerd is ready
            try:
                post(server.base, {"text": SPAM})
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        for _ in range(20):
            post(server.base, {"text": text_of(100)})
        start = memory(server)
        samples = []  # (seconds into the run, RSS bytes)
        stop = threading.Event()
        began = time.time()

        def sample():
            while not stop.wait(5):
                samples.append((time.time() - began, group_rss_bytes(server.proc.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = run_wrk(server.base, connections, duration, bodies)
        stop.set()
        sampler.join()
        end = memory(server)
        label = post(server.base, {"text": SPAM})[1]["label"]
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "adapter": name, **result, "errors": errors,
        "rps": result["requests"] / result["seconds"],
        "rss_start": start[0], "rss_end": end[0],
        "rss_max": max([rss for _, rss in samples] + [end[0]]),
        # Under load from the first sample (5 s in) to the end: flat means no growth here.
        "rss_loaded": samples[0][1] if samples else end[0],
        "rss_series": [(round(t), round(rss / 1e6, 1)) for t, rss in samples],
        "linear_start": start[1], "linear_end": end[1], "after": label,
    }


def mb(value):
    return "-" if value is None else f"{value / 1e6:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapters", nargs="*", default=list(ADAPTERS),
                        help=f"any of {', '.join(ADAPTERS)} (default: all)")
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    unknown = set(args.adapters) - set(ADAPTERS)
    if unknown:
        parser.error(f"unknown adapters: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    bodies = bodies_file()
    rows = []
    for name in args.adapters:
        print(f"{name}: {args.connections} connections for {args.duration} s ...", file=sys.stderr)
        rows.append(load_one(name, args.connections, args.duration, bodies))
        print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"\n{args.connections} connections, {args.duration} s, wrk 1 thread, "
          "mix of 13/58/114-token texts and a batch of 4\n")
    print("| adapter | requests | req/s | p50 ms | p99 ms | max ms | errors | RSS MB: idle, "
          "5 s into the load → end (max) | linear memory MB: start → end | spam after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['adapter']} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['max_ms']:.0f} | {r['errors']} | "
              f"{mb(r['rss_start'])}, {mb(r['rss_loaded'])} → {mb(r['rss_end'])} "
              f"({mb(r['rss_max'])}) | "
              f"{mb(r['linear_start'])} → {mb(r['linear_end'])} | {r['after']} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"duration": args.duration, "connections": args.connections,
                       "rows": rows}, out, indent=1)
    failed = [r["adapter"] for r in rows if r["errors"] or r["after"] != "spam"]
    if failed:
        sys.exit(f"errors under load: {', '.join(failed)}")


if __name__ == "__main__":
    main()
