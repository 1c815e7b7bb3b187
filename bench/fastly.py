#!/usr/bin/env python3
"""Per-request latency of the Fastly Compute program under Viceroy, beside the native build and
the Spin component under `wasmtime serve`.

Fastly starts a fresh instance for every request, and so does Viceroy: what a request costs
is instantiation plus setting up the service plus the inference, all inside Fastly's 50 ms
of CPU. Four servers run side by side and every round sends one request to each, so they
share the machine's noise:

  native    the native server (target/release/triage serve), warm
  fastly    the pre-initialised program (target/fastly/triage.wasm) under Viceroy
  plain     the plain build (target/fastly/triage-lazy.wasm) under Viceroy: each request
            loads the model
  spin      the pre-initialised Spin component under `wasmtime serve`, a fresh instance per
            request (the same core in wasm under another host)

Also: Viceroy's start to first answer (it compiles the module with Cranelift at every start),
the largest request the budgets allow, the memory /v1/models reports against the budget,
and Viceroy's peak RSS.

Usage: bench/fastly.py [--rounds N] [--json PATH]
  (after scripts/build-fastly, scripts/build-spin and cargo build --release -p triage-native)
Prints Markdown for bench/RESULTS.md. Needs only the Python standard library.
"""

import argparse
import gzip
import json
import re
import statistics
import time
from pathlib import Path

from loopback import (ROOT, Server, first_answer_ms, floor_ms, free_port, get_json,
                      interleaved_rows, largest_request, native_serve, p99, peak_rss_bytes,
                      summary)

MEMORY_CAP = 128 * 1024 * 1024
# About 15, 64, 128 and 256 tokens (the last truncated at the model's 256).
WORDS = (12, 55, 112, 400)
# The service of scripts/serve-fastly, with nothing configured.
CONFIG = """manifest_version = 3
name = "triage-bench"
language = "other"
[local_server]
[local_server.kv_stores]
triage_cache = []
"""


def viceroy_serve(name, program):
    port = free_port()
    config = ROOT / "target" / f"bench-viceroy-{port}.toml"
    config.write_text(CONFIG)
    # -v: Viceroy logs each request's WebAssembly heap, read by heap_mib().
    return Server(name, ["viceroy", "serve", "-v", f"--addr=127.0.0.1:{port}", "-C", str(config),
                         str(ROOT / "target/fastly" / program)], port)


def heap_mib(server):
    """The largest WebAssembly heap a request of `server` (Viceroy, -v) used, in MiB."""
    server.log.flush()
    found = re.findall(r"using ([0-9.]+) MiB of WebAssembly heap", Path(server.log.name).read_text())
    return max((float(mib) for mib in found), default=None)


def wasmtime_serve(name):
    port = free_port()
    return Server(name, ["wasmtime", "serve", "-Scli", "-Skeyvalue", "--addr", f"127.0.0.1:{port}",
                         f"-Wmax-memory-size={MEMORY_CAP}", "--max-instance-reuse-count=1",
                         str(ROOT / "target/spin/triage.wasm")], port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="requests per server and length")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    sizes = {}
    for name in ("triage-lazy.wasm", "triage.wasm"):
        data = (ROOT / "target/fastly" / name).read_bytes()
        sizes[name] = {"raw": len(data), "gzip": len(gzip.compress(data, 9))}
        print(f"{name}: {len(data):,} bytes, {sizes[name]['gzip']:,} bytes gzip -9")

    servers = {
        "native": native_serve(),
        "fastly": viceroy_serve("fastly", "triage.wasm"),
        "plain": viceroy_serve("fastly-plain", "triage-lazy.wasm"),
        "spin": wasmtime_serve("spin-fresh"),
    }
    try:
        rows = interleaved_rows(servers, WORDS, args.rounds)
        floors = {name: floor_ms(server.base, 100) for name, server in servers.items()}
        largest = largest_request(servers["fastly"].base)[0]
        largest_native = largest_request(servers["native"].base)[0]
        memory = get_json(servers["fastly"].base, "/v1/models")["memory"]
        peak_rss = peak_rss_bytes(servers["fastly"].proc.pid)
        time.sleep(0.5)  # Viceroy's log of the last request
        heaps = {name: heap_mib(servers[name]) for name in ("fastly", "plain")}
    finally:
        for server in servers.values():
            server.stop()

    med = statistics.median
    print(f"\n{args.rounds} interleaved rounds per length; request = the whole request over"
          " loopback; inference = the server's own tokenize + inference; start = the"
          " program's `instance` Server-Timing (settings, and the model load for `plain`).\n")
    print("| tokens | native inference | fastly request (p99) | fastly inference | fastly start"
          " | plain request | spin request | fastly / native inference |")
    print("|---|---|---|---|---|---|---|---|")
    for tokens, client, inside, start in rows:
        native = med(inside["native"])
        print(f"| {tokens} | {native:.2f} ms"
              f" | {med(client['fastly']):.2f} ms ({p99(client['fastly']):.2f})"
              f" | {med(inside['fastly']):.2f} ms | {med(start['fastly']):.3f} ms"
              f" | {med(client['plain']):.1f} ms | {med(client['spin']):.2f} ms"
              f" | {med(inside['fastly']) / native:.1f}x |")
    print("\nGET /healthz (no model work), request median: "
          + ", ".join(f"{name} {ms:.2f} ms" for name, ms in floors.items()))
    print(f"largest allowed request: fastly {largest:.0f} ms, native {largest_native:.0f} ms;"
          f" /v1/models memory: resident {memory['resident_bytes']:,} B + worst request"
          f" {memory['worst_request_bytes']:,} B of {memory['budget_bytes']:,} B;"
          f" Viceroy peak RSS {peak_rss / 1e6:.0f} MB; largest WebAssembly heap of a request:"
          f" fastly {heaps['fastly']} MiB, plain {heaps['plain']} MiB")

    cold = [first_answer_ms(lambda: viceroy_serve("fastly-cold", "triage.wasm")) for _ in range(3)]
    print(f"viceroy serve start to first answer (compiles the module each time, n=3): {summary(cold)}")
    if args.json:
        result = {
            "rounds": args.rounds, "sizes": sizes, "floors_ms": floors, "serve_start_ms": cold,
            "rows": [{"tokens": tokens,
                      **{f"{name}_client_ms": med(client[name]) for name in servers},
                      **{f"{name}_client_p99_ms": p99(client[name]) for name in servers},
                      **{f"{name}_inference_ms": med(inside[name]) for name in servers},
                      **{f"{name}_start_ms": med(start[name]) for name in servers}}
                     for tokens, client, inside, start in rows],
            "largest": {"fastly_ms": largest, "native_ms": largest_native,
                        "viceroy_peak_rss_bytes": peak_rss},
            "memory": memory, "heap_mib": heaps,
        }
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
